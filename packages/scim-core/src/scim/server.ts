/**
 * The SCIM 2.0 server (RFC 7644), as `handle(Request) → Response` (Web standard) and
 * `respond(ScimRequest) → ScimAnswer` (plain, for Node without the Web bridge): discovery, `/Users`,
 * `/Groups` and `POST /.search` (on each and at the root). Mount it at `basePath` (default
 * `/scim/v2`) for every method. What it reads beyond the RFC (Entra's and Okta's forms, lower-case
 * endpoint names, a trailing slash) and the shape of its answers: docs/scim-server.md.
 *
 * Every write becomes `source: 'scim'` events through the app's engine, so SCIM users reach the same
 * handlers as Scalekit ones. A group's membership change becomes one `group.members_changed` event
 * naming the users joining and leaving, so adding one member to a group of 100,000 costs what it
 * costs in a group of 10; a group over 1,000 members is answered with its members streamed a page at
 * a time, and a PATCH of one that did not ask for attributes answers 204. Every read is scoped to
 * the organization of the bearer token.
 */
import { randomUUID } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { jsonEqual } from '../engine/diff.js';
import type { ProvisioningEngine } from '../engine/engine.js';
import { EngineError, HandlerError } from '../engine/errors.js';
import { markOwnEvent } from '../engine/own-events.js';
import { BodyTooLargeError, DEFAULT_MAX_BODY_BYTES } from '../http/body.js';
import { inspectJsonText } from '../http/json-guard.js';
import type { DirectoryEvent, DirectoryGroup, DirectoryUser } from '../model.js';
import { defaultLogger, type Logger } from '../observability/logger.js';
import { observabilityOf } from '../observability/telemetry.js';
import {
  checked,
  describeValue,
  engineOption,
  fn,
  knownKeys,
  loggerOption,
  optionsObject,
  validateOptions,
  wholeNumber,
} from '../options.js';
import type { GroupLookup, PageRequest, ResourceVersion, UserLookup } from '../store/types.js';
import { formatMillisIso, formatNanos } from '../time.js';
import {
  caseExactOf,
  type DiscoveryOptions,
  resourceTypes,
  SCHEMAS,
  schemas,
  serviceProviderConfig,
} from './discovery.js';
import { ScimError } from './errors.js';
import { responseOf, type ScimAnswer, type ScimRequest, scimRequestOf } from './exchange.js';
import { type Filter, formatAttributePath, parseAttributePath, parseFilter } from './filter.js';
import { DEFAULT_SCIM_LIMITS, type ScimLimits } from './limits.js';
import { matchesFilter, valuesAt } from './match.js';
import { activeOnlyPatch, applyPatch, type PatchOperation, parsePatchRequest } from './patch.js';
import { deepFreeze, groupFromScim, groupToScim, type ResourceOptions, userFromScim, userToScim } from './resources.js';
import {
  checkFilter,
  type ResolvedPath,
  type ResourceSchema,
  resolvePath,
  type ScimSchemaExtension,
  schemaExtensionsOption,
  schemaUrns,
  servedSchemas,
} from './schema.js';
import { checkDateTimes, type ListQuery, queryFromSearchBody, queryFromUrl, restrictFilter } from './search.js';
import type { ScimAuthenticator } from './tokens.js';

export interface ScimServerOptions {
  engine: ProvisioningEngine;
  authenticator: ScimAuthenticator;
  /** The path the server is mounted at. Default `/scim/v2`. */
  basePath?: string;
  /** Most resources one list answers. Default 200. */
  maxResults?: number;
  /** Largest request body, in bytes. Default 1 MiB. */
  maxBodyBytes?: number;
  /** What one request may ask (filter size, PATCH operations, nesting, resource size…). Default `DEFAULT_SCIM_LIMITS`. */
  limits?: Partial<ScimLimits>;
  /**
   * User schema extensions the app declares besides the enterprise one (an Entra or Okta custom
   * attribute mapping). Attributes of undeclared schemas are not stored, and a PATCH path naming
   * one is a 400.
   */
  schemaExtensions?: readonly ScimSchemaExtension[];
  /**
   * Every request that was not answered 2xx or 3xx. Default: 5xx answers are logged with
   * `logger.error`, with their cause. A 5xx means "retry": the cause is a handler or the store.
   */
  onError?: (failure: ScimFailure) => void;
  /** Where the default `onError` logs. Default: the engine's `logger` (errors to stderr). */
  logger?: Logger;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

/** A SCIM request that failed, as reported to `onError`. */
export interface ScimFailure {
  readonly status: number;
  readonly scimType?: string;
  readonly detail: string;
  readonly method: string;
  /** The request path, without the query string (which may hold personal data). */
  readonly path: string;
  /** For a 5xx: the error that caused it (a `HandlerError`'s `cause` is the handler's own error). */
  readonly error?: unknown;
}

/** The default `onError`: a 5xx to `logger.error` with its cause; a refusal (4xx) is the client's business. */
function logServerErrors(logger: Logger): (failure: ScimFailure) => void {
  return ({ status, method, path, detail, error }) => {
    if (status < 500) return;
    const fields = { route: 'scim', status, method, path, ...(error !== undefined && { err: error }) };
    logger.error(fields, `SCIM ${method} ${path} ${status}: ${detail}`);
  };
}

/** Refuses bytes that are not UTF-8 (a `TextDecoder` holds no state between whole-input `decode` calls). */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Rows read per store call while scanning for a filter or `sortBy`; the event loop turns between chunks. */
const SCAN_CHUNK = 250;
/**
 * Rows an `eq` lookup takes from its index (several groups may share a `displayName`, several users
 * an `externalId`); past it, the filter scans, in chunks, like any other.
 */
const LOOKUP_LIMIT = 100;

const one = <T>(row: T | undefined): T[] => (row === undefined ? [] : [row]);
const withinLimit = <T>(rows: T[]): T[] | undefined => (rows.length > LOOKUP_LIMIT ? undefined : rows);
/** Resources rendered, events applied or answers serialized between two turns of the event loop. */
const RENDER_CHUNK = 20;
/** Ids longer than this name no resource (the server makes UUIDs; Scalekit's ids are short). */
const MAX_ID_LENGTH = 256;
/** `startIndex` beyond this answers an empty page: past any real directory, and within every database's offset type. */
const MAX_START_INDEX = 2 ** 31 - 1;

const CONTENT_TYPE = 'application/scim+json';

/** An event without what every SCIM write stamps on it. */
type Change = DirectoryEvent extends infer E
  ? E extends DirectoryEvent
    ? Omit<E, 'id' | 'organizationId' | 'occurredAt' | 'source' | 'sourceType'>
    : never
  : never;

function json(status: number, body: unknown, headers: Record<string, string> = {}): ScimAnswer {
  return { status, headers: { 'content-type': CONTENT_TYPE, ...headers }, body: jsonText(body) };
}

/**
 * `JSON.stringify`, remembered for frozen values: a rendered resource that cannot change (see
 * `renderedUsers`) is serialized once, and a list answer is its resources' texts joined.
 */
function jsonText(value: unknown): string {
  if (typeof value !== 'object' || value === null || !Object.isFrozen(value)) return JSON.stringify(value);
  let text = serialized.get(value);
  if (text === undefined) {
    text = JSON.stringify(value);
    serialized.set(value, text);
  }
  return text;
}
const serialized = new WeakMap<object, string>();

const noContent = (headers: Record<string, string> = {}): ScimAnswer => ({ status: 204, headers });

const notFound = (what: string) => new ScimError(404, undefined, `${what} not found.`);
const notAllowed = (method: string, path: string, allow: string) =>
  new ScimError(405, undefined, `${method} is not allowed on ${path}.`, { allow });

export interface ScimServer {
  /** Answers any request under `basePath`; every error is a SCIM error body, never a thrown error. */
  handle(request: Request): Promise<Response>;
  /**
   * The same, without Web `Request`/`Response`: what a Node server (or any stack) fills and writes
   * itself. `handleScimNodeRequest` does it for `node:http`, Express and Fastify.
   */
  respond(request: ScimRequest): Promise<ScimAnswer>;
}

const authenticatorOption = checked((authenticator, report) => {
  const expected = 'a ScimAuthenticator: scimTokenAuthenticator([{ organizationId, tokenHash: hashScimToken(token) }])';
  if (authenticator === undefined) {
    report(`is missing: pass ${expected}, or your own { authenticate(authorization) }`);
  } else if (typeof (authenticator as { authenticate?: unknown } | null)?.authenticate !== 'function') {
    const entries = Array.isArray(authenticator) ? ': wrap the entries, scimTokenAuthenticator(entries)' : '';
    report(`must be ${expected}, got ${describeValue(authenticator)}${entries}`);
  }
});

const basePathOption = checked((basePath, report) => {
  if (basePath !== undefined && !(typeof basePath === 'string' && /^\/[^\s?#]*$/.test(basePath))) {
    report(
      `must be the path the server is mounted at, such as '/scim/v2', got ${describeValue(basePath, { quoted: true })}`,
    );
  }
});

const scimServerOptions = optionsObject(
  {
    engine: engineOption,
    authenticator: authenticatorOption,
    basePath: basePathOption,
    maxResults: wholeNumber(1).optional(),
    maxBodyBytes: wholeNumber(1, 'bytes').optional(),
    limits: knownKeys(
      'SCIM limit',
      Object.fromEntries(Object.keys(DEFAULT_SCIM_LIMITS).map((name) => [name, wholeNumber(1)])),
    ),
    schemaExtensions: schemaExtensionsOption,
    onError: fn(),
    logger: loggerOption,
    now: fn(),
  },
  '{ engine, authenticator }',
);

/**
 * Creates the SCIM server on the app's engine: writes become `source: 'scim'` events. Throws an
 * `OptionsError` when an option is missing or malformed (an unknown limit, a schema extension
 * whose id is not a URN).
 */
export function createScimServer(options: ScimServerOptions): ScimServer {
  validateOptions('createScimServer', scimServerOptions, options);
  const { engine, authenticator } = options;
  const store = engine.store;
  const basePath = (options.basePath ?? '/scim/v2').replace(/\/$/, '');
  const maxResults = options.maxResults ?? 200;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const limits: ScimLimits = { ...DEFAULT_SCIM_LIMITS, ...options.limits };
  const served = servedSchemas(options.schemaExtensions);
  const userOptions: ResourceOptions = { schema: served.user, limits };
  const groupOptions: ResourceOptions = { schema: served.group, limits };
  const caseExact = caseExactOf([...served.user.attributes.values()]);
  const onError =
    options.onError ?? logServerErrors(options.logger ?? observabilityOf(options.engine)?.logger ?? defaultLogger);
  const clock = options.now ?? Date.now;
  let lastNanos = 0n;
  /** Strictly increasing, so two writes in one millisecond are still ordered. */
  const stamp = () => {
    const now = BigInt(clock()) * 1_000_000n;
    lastNanos = now > lastNanos ? now : lastNanos + 1n;
    return formatNanos(lastNanos);
  };

  /** The body as JSON, refused (4xx) when too large, not UTF-8 JSON, too deep, or holding unstorable strings or prototype keys. */
  async function readJson(request: ScimRequest): Promise<unknown> {
    let bytes: Uint8Array;
    try {
      bytes = await request.body(maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError)
        throw new ScimError(413, undefined, `The body is over ${maxBodyBytes} bytes.`);
      throw new ScimError(400, 'invalidSyntax', 'The body could not be read.');
    }
    let text: string;
    let body: unknown;
    try {
      text = UTF8.decode(bytes);
      body = JSON.parse(text);
    } catch {
      throw new ScimError(400, 'invalidSyntax', 'The body is not UTF-8 JSON.');
    }
    const problem = inspectJsonText(text, body, limits.maxJsonDepth);
    if (problem) throw new ScimError(400, 'invalidSyntax', `The body is not accepted: ${problem}.`);
    return body;
  }

  /**
   * The users as SCIM resources. `remember` keeps each render (and its text, see `jsonText`) with the
   * frozen snapshot it came from, for the reads that follow; the answer to a write passes `false`:
   * its snapshot is usually replaced by the next write to that user before anyone reads it, and
   * holding a render per write alive until then made garbage collection a quarter of a `PATCH`.
   */
  async function render(
    organizationId: string,
    users: readonly DirectoryUser[],
    discovery: DiscoveryOptions,
    remember = true,
  ) {
    const ids = users.map((u) => u.id);
    const [prints, versions] = await Promise.all([
      store.getUserFingerprints(organizationId, ids),
      store.getVersions(ids.map((id) => ({ organizationId, kind: 'user' as const, id }))),
    ]);
    const out: JsonObject[] = [];
    const { baseUrl } = discovery;
    for (const [i, user] of users.entries()) {
      // Users of up to `maxResourceBytes` each: the event loop turns between chunks of a page.
      if (i > 0 && i % RENDER_CHUNK === 0) await nextTurn();
      const version = prints[i] ?? 'none';
      const times = metaTimes(versions[i], remember);
      const known = renderedUsers.get(user);
      if (
        known?.baseUrl === baseUrl &&
        known.version === version &&
        known.created === times.created &&
        known.lastModified === times.lastModified
      ) {
        out.push(known.resource);
        continue;
      }
      const resource = userToScim(user, { baseUrl, version, ...times }, userOptions);
      // A snapshot that cannot change (the memory store's) renders the same until its version does.
      if (remember && Object.isFrozen(user)) {
        renderedUsers.set(user, { baseUrl, version, ...times, resource: deepFreeze(resource) });
      }
      out.push(resource);
    }
    return out;
  }
  /** The last answer rendered per frozen user snapshot, with what it was rendered for. Frozen: answers share it. */
  const renderedUsers = new WeakMap<
    DirectoryUser,
    { baseUrl: string; version: string; created?: string; lastModified?: string; resource: JsonObject }
  >();

  /**
   * Sends a change through the engine as a `source: 'scim'` event, stamped now. Its id is a fresh
   * uuid no retry ever sends again, and its stamp orders it: applied without the ledger (see
   * engine/own-events.ts).
   */
  async function apply(organizationId: string, sourceType: string, change: Change): Promise<void> {
    // Not `{ ...change, id, … }`: on Node 20 a spread followed by new keys costs about 2 µs a key.
    const event = markOwnEvent(
      Object.assign({}, change, {
        id: `scim_${randomUUID()}`,
        organizationId,
        occurredAt: stamp(),
        source: 'scim',
        sourceType,
      }) as DirectoryEvent,
    );
    const result = await engine.process(event);
    if (result.status === 'in_flight') throw new ScimError(409, undefined, 'The same change is being applied; retry.');
  }

  /**
   * A list request's parameters, resolved against the schema of each resource type it searches (one,
   * or User and Group at the root `/.search`): `startIndex` (1-based, at least 1), `count` (0 to
   * `maxResults`), and per type the filter, the sort attribute and `attributes`/`excludedAttributes`.
   * A filter or `sortBy` naming an attribute no searched type declares is a 400.
   */
  function listParams(query: ListQuery, types: readonly ResourceSchema[]): ListParams {
    const [only] = types;
    const urns = types.length === 1 && only ? schemaUrns(only) : [...new Set(types.flatMap(schemaUrns))];
    const filters = filtersOf(query.filter, types, urns);
    const sortPaths = sortPathsOf(query.sortBy, types, urns);
    const start = query.startIndex ?? 1;
    const requested = query.count ?? maxResults;
    return {
      startIndex: start < 1 ? 1 : Math.min(start, MAX_START_INDEX),
      count: Math.min(maxResults, Math.max(0, requested)),
      sorted: sortPaths !== undefined,
      descending: query.descending,
      types: types.map((schema, i) => ({
        filter: filters[i] as Filter | boolean,
        sortBy: sortPaths?.[i],
        projection: projectionOf(query, schema),
      })),
    };
  }

  /**
   * A GET list's parameters, remembered per query string: IdPs repeat the same few queries (Entra's
   * `userName eq "…"` differs per user, but a poll repeats its page), and parsing and resolving a
   * filter costs more than answering it from an index. Only what parsed is kept (an error is thrown
   * again each time); the result is never mutated, so answers share it. Bounded in entries and in key
   * length, least recently used first out. Kept per organization, so how fast an answer comes never
   * tells one tenant what another asked.
   */
  function urlListParams(url: URL, schema: ResourceSchema, organizationId: string): ListParams {
    const { search } = url;
    if (search.length > LIST_PARAMS_KEY_LIMIT) return listParams(queryFromUrl(url, limits), [schema]);
    const key = `${schema.name}\n${organizationId}\n${search}`;
    const known = listParamsCache.get(key);
    // Deleted and set again: a Map iterates in insertion order, so the first key is the least recent.
    if (known) listParamsCache.delete(key);
    const params = known ?? listParams(queryFromUrl(url, limits), [schema]);
    listParamsCache.set(key, params);
    if (listParamsCache.size > LIST_PARAMS_CACHE_SIZE) {
      listParamsCache.delete(listParamsCache.keys().next().value as string);
    }
    return params;
  }
  const listParamsCache = new Map<string, ListParams>();

  /** The filter as each type reads it (`true`: no filter), refused (400) when it names what no type declares. */
  function filtersOf(text: string | undefined, types: readonly ResourceSchema[], urns: string[]): (Filter | boolean)[] {
    if (!text) return types.map(() => true);
    const filter = parseFilter(text, { ...limits, schemas: urns });
    const [only] = types;
    if (types.length === 1 && only) {
      checkFilter(only, filter);
      checkDateTimes(only, filter);
      return [filter];
    }
    // Across types, an attribute one type lacks has no value there (RFC 7644 §3.4.2.1); one that
    // every type lacks is a mistake.
    const misses = new Map<Filter, number>();
    const restricted = types.map((schema) => {
      checkDateTimes(schema, filter);
      return restrictFilter(schema, filter, (node) => misses.set(node, (misses.get(node) ?? 0) + 1));
    });
    for (const [node, count] of misses) {
      if (count === types.length && 'path' in node) {
        throw new ScimError(
          400,
          'invalidFilter',
          `The filter names "${formatAttributePath(node.path).slice(0, 200)}", which no searched resource type declares.`,
        );
      }
    }
    return restricted;
  }

  /** `sortBy` resolved per type (`undefined` where a type lacks it: its resources sort as having no value). */
  function sortPathsOf(
    text: string | undefined,
    types: readonly ResourceSchema[],
    urns: string[],
  ): (ResolvedPath | undefined)[] | undefined {
    if (!text) return undefined;
    const invalid = (detail: string) => new ScimError(400, 'invalidValue', `sortBy is not valid: ${detail}.`);
    if (text.length > limits.maxPathLength) throw invalid(`longer than ${limits.maxPathLength} characters`);
    const parsed = parseAttributePath(text.trim(), urns, invalid);
    const paths = types.map((schema) => resolvePath(schema, parsed));
    if (paths.every((path) => path === undefined)) {
      throw invalid(
        `"${text.slice(0, 200)}" names no attribute the ${types.map((t) => t.name).join(' or ')} schema declares`,
      );
    }
    return paths;
  }

  /** `attributes` / `excludedAttributes` resolved against the schema; names it does not declare select nothing. */
  function projectionOf(
    query: Pick<ListQuery, 'attributes' | 'excludedAttributes'>,
    schema: ResourceSchema,
  ): Projection | undefined {
    const resolve = (param: string, names: readonly string[] | undefined): ResolvedPath[] | undefined =>
      names?.flatMap((part) => {
        const name = part.trim();
        if (name === '') return [];
        if (name.length > limits.maxPathLength) {
          throw new ScimError(
            400,
            'invalidValue',
            `A name in ${param} is longer than ${limits.maxPathLength} characters.`,
          );
        }
        try {
          const resolved = resolvePath(schema, parseAttributePath(name, schemaUrns(schema)));
          return resolved ? [resolved] : [];
        } catch {
          return [];
        }
      });
    const only = resolve('attributes', query.attributes);
    const without = resolve('excludedAttributes', query.excludedAttributes);
    return only || without ? { only, without } : undefined;
  }

  /** `attributes` / `excludedAttributes` of a request's query string (RFC 7644 §3.9: any method's answer). */
  function projectionOfUrl(url: URL, schema: ResourceSchema): Projection | undefined {
    return projectionOf(queryFromUrl(url, limits), schema);
  }

  async function existing(organizationId: string, id: string): Promise<DirectoryUser> {
    const user = id.length <= MAX_ID_LENGTH ? await store.getUser(organizationId, id) : undefined;
    if (!user) throw notFound(`User ${id.slice(0, MAX_ID_LENGTH)}`);
    return user;
  }

  async function checkIfMatch(request: ScimRequest, organizationId: string, id: string) {
    const expected = request.header('if-match');
    if (!expected || expected === '*') return;
    const [print] = await store.getUserFingerprints(organizationId, [id]);
    if (expected !== `W/"${print}"` && expected !== `"${print}"`) {
      throw new ScimError(412, undefined, 'The resource changed since that version (If-Match).');
    }
  }

  async function assertUniqueUserName(organizationId: string, userName: string, self?: string) {
    const other = await store.findUser(organizationId, { userName });
    if (other && other.id !== self) throw new ScimError(409, 'uniqueness', `userName "${userName}" is taken.`);
  }

  /**
   * The matches of one resource type: their number, and either the page's rows or ids (`window`) or,
   * when sorting, every match's id and sort key. Reads as few rows as the store can give: no filter
   * and no sort read one page (an offset over the id index) and a count; a filter an index answers
   * (`userName`, `externalId`, `id`, a group's `displayName`) is one lookup of every row sharing the
   * key (up to `LOOKUP_LIMIT`), and so is an `and` with an `eq` on a unique key (`id`, `userName`)
   * whose rows are then checked against the whole filter; anything else scans the organization in
   * chunks, turning the event loop between them and keeping only the page (or, when sorting, each
   * match's id and sort key), so neither the time one turn takes nor the memory grows with the
   * directory. A group's members are read only when the filter or the sort needs them.
   */
  async function collect<T extends { id: string }>(
    kind: ResourceKinds<T>,
    organizationId: string,
    params: TypeParams,
    window: { skip: number; count: number },
    sorted: boolean,
  ): Promise<Collected<T>> {
    const { filter, sortBy } = params;
    const { skip, count } = window;
    if (filter === false) return { total: 0, ids: [], keyed: [] };
    const key = (resource: JsonObject) => (sortBy ? sortKey(resource, sortBy) : '');
    const scan = {
      members: (filter !== true && mentions(filter, 'members')) || sortBy?.attribute.name === 'members',
    };
    if (filter === true && !sorted) {
      const [rows, total] = await Promise.all([
        count === 0 ? [] : kind.list(organizationId, { offset: skip, limit: count }),
        kind.count(organizationId),
      ]);
      return { total, rows, ids: [], keyed: [] };
    }
    const lookup = filter !== true ? indexedLookup(filter, kind) : undefined;
    // `undefined` when more rows share the key than a lookup holds: the scan below counts them.
    const found = lookup && (await lookup.find(organizationId));
    if (lookup && found) {
      // Each index matches as its attribute's `caseExact` says (userName and displayName
      // case-insensitively, ids exactly), so a row an exact lookup finds needs no second check.
      let matches: readonly T[] = found;
      let rendered: JsonObject[] = [];
      if (found.length > 0 && (!lookup.exact || sorted)) {
        rendered = await kind.render(organizationId, found, scan);
        if (!lookup.exact) {
          const kept = found.map((_, i) => matchesFilter(rendered[i] as JsonObject, filter as Filter, { caseExact }));
          matches = found.filter((_, i) => kept[i]);
          rendered = rendered.filter((_, i) => kept[i]);
        }
      }
      if (sorted) {
        return {
          total: matches.length,
          ids: [],
          keyed: matches.map((m, i) => ({ id: m.id, key: key(rendered[i] as JsonObject) })),
        };
      }
      return { total: matches.length, rows: matches.slice(skip, skip + count), ids: [], keyed: [] };
    }
    const ids: string[] = [];
    const keyed: SortEntry[] = [];
    let total = 0;
    for (let after: string | undefined; ; ) {
      const rows = await kind.list(organizationId, { limit: SCAN_CHUNK, ...(after !== undefined && { after }) });
      const rendered = await kind.render(organizationId, rows, scan);
      rendered.forEach((resource, i) => {
        if (filter !== true && !matchesFilter(resource, filter, { caseExact })) return;
        total += 1;
        const id = (rows[i] as T).id;
        if (sorted) keyed.push({ id, key: key(resource) });
        else if (total > skip && total <= skip + count) ids.push(id);
      });
      if (rows.length < SCAN_CHUNK) break;
      after = rows[rows.length - 1]?.id;
      await nextTurn();
    }
    return { total, ids, keyed };
  }

  /** The page's rows (read again by id when the scan kept only ids), rendered as the answer wants them. */
  async function renderPage<T>(
    kind: ResourceKinds<T>,
    organizationId: string,
    collected: Pick<Collected<T>, 'rows' | 'ids'>,
    projection: Projection | undefined,
  ): Promise<ListItem[]> {
    const rows =
      collected.rows ??
      (await kind.getMany(organizationId, collected.ids)).filter((row): row is T => row !== undefined);
    if (kind.answer && wantsMembers(projection)) return kind.answer(organizationId, rows, projection);
    const answer = { members: wantsMembers(projection) };
    return (await kind.render(organizationId, rows, answer)).map((resource) => project(resource, projection));
  }

  /** A list request's page of one resource type, rendered, and its `totalResults`. */
  async function listPage<T extends { id: string }>(
    kind: ResourceKinds<T>,
    organizationId: string,
    params: ListParams,
  ): Promise<{ resources: unknown[]; total: number }> {
    const type = params.types[0] as TypeParams;
    const window = { skip: params.startIndex - 1, count: params.count };
    const collected = await collect(kind, organizationId, type, window, params.sorted);
    if (params.sorted) {
      collected.keyed.sort(byKey(params.descending));
      collected.ids.push(...collected.keyed.slice(window.skip, window.skip + window.count).map((k) => k.id));
    }
    return { resources: await renderPage(kind, organizationId, collected, type.projection), total: collected.total };
  }

  /**
   * The root `/.search` (RFC 7644 §3.4.3) over Users and Groups, each resource with its own schemas.
   * Unsorted, the result is every matching User (in id order) then every matching Group, and
   * `startIndex` counts through both; sorted, both types are sorted together by the sort key (a type
   * that lacks the attribute sorts as having no value), ties broken by type (User first), then id.
   */
  async function searchAll(
    kinds: readonly [ResourceKinds<DirectoryUser>, ResourceKinds<DirectoryGroup>],
    organizationId: string,
    params: ListParams,
  ): Promise<{ resources: unknown[]; total: number }> {
    const [users, groups] = kinds;
    const [userParams, groupParams] = params.types as [TypeParams, TypeParams];
    const skip = params.startIndex - 1;
    if (!params.sorted) {
      const u = await collect(users, organizationId, userParams, { skip, count: params.count }, false);
      const taken = u.rows?.length ?? u.ids.length;
      const g = await collect(
        groups,
        organizationId,
        groupParams,
        { skip: Math.max(0, skip - u.total), count: params.count - taken },
        false,
      );
      const resources = [
        ...(await renderPage(users, organizationId, u, userParams.projection)),
        ...(await renderPage(groups, organizationId, g, groupParams.projection)),
      ];
      return { resources, total: u.total + g.total };
    }
    const everything = { skip: 0, count: 0 };
    const u = await collect(users, organizationId, userParams, everything, true);
    const g = await collect(groups, organizationId, groupParams, everything, true);
    const entries = [...u.keyed.map((k) => ({ ...k, type: 0 })), ...g.keyed.map((k) => ({ ...k, type: 1 }))];
    const order = byKey(params.descending);
    entries.sort((a, b) => (a.key !== b.key ? order(a, b) : a.type !== b.type ? a.type - b.type : order(a, b)));
    const page = entries.slice(skip, skip + params.count);
    const [userPage, groupPage] = await Promise.all([
      renderPage(
        users,
        organizationId,
        { ids: page.filter((e) => e.type === 0).map((e) => e.id) },
        userParams.projection,
      ),
      renderPage(
        groups,
        organizationId,
        { ids: page.filter((e) => e.type === 1).map((e) => e.id) },
        groupParams.projection,
      ),
    ]);
    // Put both pages back in the sorted order (a row deleted since the scan is left out).
    const rendered = [userPage, groupPage].map((list) => new Map(list.map((r) => [r.id as string, r])));
    const resources = page.flatMap((e) => rendered[e.type]?.get(e.id) ?? []);
    return { resources, total: u.total + g.total };
  }

  /**
   * The users sharing a lookup key: every one when the store lists them (`findUsers`), else the one
   * `findUser` answers; `undefined` when more than `LOOKUP_LIMIT` share it (the caller scans).
   */
  function usersBy(organizationId: string, lookup: UserLookup): Promise<DirectoryUser[] | undefined> {
    if (store.findUsers === undefined) return store.findUser(organizationId, lookup).then(one);
    return store.findUsers(organizationId, lookup, LOOKUP_LIMIT + 1).then(withinLimit);
  }

  /** `usersBy` for groups (`findGroups`, else `findGroup`). */
  function groupsBy(organizationId: string, lookup: GroupLookup): Promise<DirectoryGroup[] | undefined> {
    if (store.findGroups === undefined) return store.findGroup(organizationId, lookup).then(one);
    return store.findGroups(organizationId, lookup, LOOKUP_LIMIT + 1).then(withinLimit);
  }

  function userKind(discovery: DiscoveryOptions): ResourceKinds<DirectoryUser> {
    return {
      list: (organizationId, page) => store.listUsers(organizationId, page),
      count: (organizationId) => store.countUsers(organizationId),
      getMany: (organizationId, ids) => store.getUsers(organizationId, ids),
      lookups: new Map([
        ['id', (organizationId: string, id: string) => store.getUser(organizationId, id).then(one)],
        ['username', (organizationId: string, userName: string) => usersBy(organizationId, { userName })],
        ['externalid', (organizationId: string, externalId: string) => usersBy(organizationId, { externalId })],
      ]),
      // userName is unique per organization after folding (the server refuses a second one), and so is the lookup's key.
      unique: new Set(['id', 'username']),
      render: (organizationId, users) => render(organizationId, users, discovery),
    };
  }

  function groupKind(discovery: DiscoveryOptions): ResourceKinds<DirectoryGroup> {
    return {
      list: (organizationId, page) => store.listGroups(organizationId, page),
      count: (organizationId) => store.countGroups(organizationId),
      getMany: (organizationId, ids) => Promise.all(ids.map((id) => store.getGroup(organizationId, id))),
      lookups: new Map([
        ['id', (organizationId: string, id: string) => store.getGroup(organizationId, id).then(one)],
        ['displayname', (organizationId: string, displayName: string) => groupsBy(organizationId, { displayName })],
        ['externalid', (organizationId: string, externalId: string) => groupsBy(organizationId, { externalId })],
      ]),
      unique: new Set(['id']),
      render: (_organizationId, groups, { members }) =>
        Promise.all(groups.map((group) => renderGroup(group, discovery, members))),
      // Members wanted: counted first, so a large group is streamed, never listed whole (Okta's
      // `displayName eq` lookup asks without `excludedAttributes=members`).
      answer: (_organizationId, groups, projection) =>
        Promise.all(
          groups.map(async (group): Promise<ListItem> => {
            const bare = await renderGroupCounted(group, discovery, false);
            if (bare.count > LARGE_GROUP) return streamedGroup(group, discovery, projection, bare.resource);
            const resource = bare.count === 0 ? bare.resource : await renderGroup(group, discovery);
            return project(resource, projection);
          }),
        ),
    };
  }

  // ── Groups ──────────────────────────────────────────────────────────────────────────────────

  /** A group as SCIM JSON; its members only when asked (they are read from the store, and may be many). */
  async function renderGroup(group: DirectoryGroup, discovery: DiscoveryOptions, withMembers = true) {
    return (await renderGroupCounted(group, discovery, withMembers)).resource;
  }

  /** `renderGroup`, and how many members the group has. Without its members, a group costs a count (an index). */
  async function renderGroupCounted(group: DirectoryGroup, discovery: DiscoveryOptions, withMembers: boolean) {
    const organizationId = group.organizationId;
    const memberIds = withMembers ? await store.listGroupMemberIds(organizationId, group.id) : [];
    const members = withMembers ? await store.getUsers(organizationId, memberIds) : [];
    const [[print], [version], count] = await Promise.all([
      store.getGroupFingerprints(organizationId, [group.id]),
      store.getVersions([{ organizationId, kind: 'group', id: group.id }]),
      withMembers ? memberIds.length : store.countGroupMembers(organizationId, group.id),
    ]);
    const resource = groupToScim(
      group,
      withMembers
        ? memberIds.map((memberId, i) => {
            const display = members[i]?.name ?? members[i]?.userName;
            return display === undefined ? { id: memberId } : { id: memberId, display };
          })
        : [],
      {
        baseUrl: discovery.baseUrl,
        // The version covers the members too, so an If-Match sees a membership change.
        version: `${print ?? 'none'}.${count}.${version?.eventId ?? ''}`,
        ...metaTimes(version),
      },
    );
    return { resource, count };
  }

  async function existingGroup(organizationId: string, id: string): Promise<DirectoryGroup> {
    const group = id.length <= MAX_ID_LENGTH ? await store.getGroup(organizationId, id) : undefined;
    if (!group) throw notFound(`Group ${id.slice(0, MAX_ID_LENGTH)}`);
    return group;
  }

  /**
   * Writes a group and its members: the group's event, then one `group.members_changed` with the
   * users joining and leaving, applied in one transaction. Every joining id is checked first (a user
   * of the same organization), so a request that fails validation writes nothing and calls no handler.
   */
  async function writeGroup(group: DirectoryGroup, memberIds: readonly string[] | undefined, method: string) {
    const { organizationId } = group;
    let delta: MemberDelta = { added: [], removed: [] };
    if (memberIds !== undefined) {
      const wanted = new Set(memberIds);
      const current = new Set(await store.listGroupMemberIds(organizationId, group.id));
      const added = [...wanted].filter((id) => !current.has(id));
      const removed = [...current].filter((id) => !wanted.has(id));
      const users = added.length === 0 ? [] : await store.getUsers(organizationId, added);
      const missing = added.filter((_, i) => !users[i]);
      if (missing.length > 0) throw noSuchUsers(missing);
      delta = { added, removed };
    }
    await apply(organizationId, `${method} /Groups`, { type: 'group.upserted', group });
    if (delta.added.length > 0 || delta.removed.length > 0)
      await changeMembers(group, delta, `${method} /Groups members`);
  }

  /**
   * A 200 with the group as `projection` shapes it. Up to `LARGE_GROUP` members it is one JSON
   * body; above, its members are streamed a page at a time (`streamedGroup`), so a group of 100,000
   * is never one array of users nor one string.
   */
  async function groupAnswer(
    group: DirectoryGroup,
    discovery: DiscoveryOptions,
    projection: Projection | undefined,
    counted?: { resource: JsonObject; count: number },
  ): Promise<ScimAnswer> {
    const bare = counted ?? (await renderGroupCounted(group, discovery, false));
    if (!wantsMembers(projection) || bare.count === 0) {
      return json(200, project(bare.resource, projection), { etag: versionOf(bare.resource) });
    }
    if (bare.count <= LARGE_GROUP) {
      const resource = await renderGroup(group, discovery);
      return json(200, project(resource, projection), { etag: versionOf(resource) });
    }
    return {
      status: 200,
      headers: { 'content-type': CONTENT_TYPE, etag: versionOf(bare.resource) },
      body: streamedGroup(group, discovery, projection, bare.resource).chunks(),
    };
  }

  /**
   * A group over `LARGE_GROUP` members as JSON in chunks, shaped by `projection`: its members read a
   * page at a time (`pageGroupMemberIds`, then `getUsers` for their display names) when the writer
   * asks for the next chunk. `bare` is the group rendered without members.
   */
  function streamedGroup(
    group: DirectoryGroup,
    discovery: DiscoveryOptions,
    projection: Projection | undefined,
    bare: JsonObject,
  ): Streamed {
    const { organizationId, id } = group;
    const head = JSON.stringify(project(bare, projection));
    /** A page of members as the projection shapes them. */
    const shaped = async (ids: readonly string[]) => {
      const users = await store.getUsers(organizationId, ids);
      const page = ids.map((memberId, i) => {
        const display = users[i]?.name ?? users[i]?.userName;
        return display === undefined ? { id: memberId } : { id: memberId, display };
      });
      const members = own(
        project(groupToScim(group, page, { baseUrl: discovery.baseUrl, version: '' }), projection),
        'members',
      );
      return Array.isArray(members) ? members : [];
    };
    /** One page of members per chunk, read when the writer asks for it. */
    async function* chunks(): AsyncGenerator<string> {
      let after: string | undefined;
      let written = 0;
      for (;;) {
        const ids = await store.pageGroupMemberIds(organizationId, id, {
          ...(after !== undefined && { after }),
          limit: MEMBER_PAGE,
        });
        const members = ids.length > 0 ? await shaped(ids) : [];
        after = ids.at(-1);
        let text = members.map((member) => JSON.stringify(member)).join(',');
        if (members.length > 0) text = written === 0 ? `${head.slice(0, -1)},"members":[${text}` : `,${text}`;
        written += members.length;
        if (ids.length < MEMBER_PAGE) {
          // The last page. Every member may have left meanwhile: then no `members` key, as for an empty group.
          yield written === 0 ? head : `${text}]}`;
          return;
        }
        yield text;
      }
    }
    return { id, chunks };
  }

  /**
   * Applies a PATCH's member additions and removals as one `group.members_changed` event: what it
   * costs follows the members named, not the group. An id that names no user is a 400 and nothing
   * is written.
   */
  async function changeMembers(group: DirectoryGroup, delta: MemberDelta, sourceType = 'PATCH /Groups') {
    try {
      await apply(group.organizationId, sourceType, {
        type: 'group.members_changed',
        group: { id: group.id, organizationId: group.organizationId },
        added: delta.added,
        removed: delta.removed,
      });
    } catch (error) {
      if (error instanceof EngineError && error.code === 'unknown_members') throw noSuchUsers(error.ids);
      if (error instanceof EngineError && error.code === 'unknown_group') throw notFound(`Group ${group.id}`);
      throw error;
    }
  }

  async function groups(
    request: ScimRequest,
    url: URL,
    method: string,
    organizationId: string,
    id: string | undefined,
    discovery: DiscoveryOptions,
  ): Promise<ScimAnswer> {
    if (id === undefined) {
      if (method === 'GET') {
        const params = urlListParams(url, served.group, organizationId);
        const page = await listPage(groupKind(discovery), organizationId, params);
        return listJson(page.resources, params.startIndex, page.total);
      }
      if (method === 'POST') {
        const projection = projectionOfUrl(url, served.group);
        const { group, memberIds } = groupFromScim(
          await readJson(request),
          { organizationId, id: randomUUID() },
          groupOptions,
        );
        await writeGroup(group, memberIds, 'POST');
        const resource = await renderGroup(
          await existingGroup(organizationId, group.id),
          discovery,
          wantsMembers(projection),
        );
        return json(201, project(resource, projection), {
          location: `${discovery.baseUrl}/Groups/${group.id}`,
          etag: versionOf(resource),
        });
      }
      throw notAllowed(method, '/Groups', 'GET, HEAD, POST');
    }
    const current = await existingGroup(organizationId, id);
    const projection = projectionOfUrl(url, served.group);
    if (method === 'GET') return groupAnswer(current, discovery, projection);
    // The version alone (If-Match) needs no member list: it counts them.
    const ifMatch = request.header('if-match');
    if (ifMatch && ifMatch !== '*' && ifMatch !== versionOf(await renderGroup(current, discovery, false))) {
      throw new ScimError(412, undefined, 'The resource changed since that version (If-Match).');
    }
    if (method === 'DELETE') {
      await apply(organizationId, 'DELETE /Groups', { type: 'group.deleted', group: current });
      return noContent();
    }
    if (method === 'PUT' || method === 'PATCH') {
      const body = await readJson(request);
      const operations = method === 'PATCH' ? parsePatchRequest(body, limits) : [];
      const delta = method === 'PATCH' ? memberDelta(operations) : undefined;
      if (delta) {
        await changeMembers(current, delta);
      } else {
        // Operations that never name `members` apply to the group without them (an Okta rename of a
        // group of 100,000 reads none); the others to the whole group, which they may replace.
        const patchesMembers = operations.some(touchesMembers);
        const next =
          method === 'PUT'
            ? groupFromScim(body, { organizationId, id }, groupOptions)
            : groupFromScim(
                applyPatch(await renderGroup(current, discovery, patchesMembers), operations, {
                  schema: served.group,
                  limits,
                }),
                { organizationId, id },
                groupOptions,
              );
        // A PUT without `members` leaves them alone (Okta renames that way), and so does a PATCH that never names them.
        const keepMembers = method === 'PUT' ? !hasMembers(body) : !patchesMembers;
        await writeGroup(next.group, keepMembers ? undefined : next.memberIds, method);
      }
      const after = await existingGroup(organizationId, id);
      const bare = await renderGroupCounted(after, discovery, false);
      // A large group's whole member list is not what a client changing one member waits for: when
      // it did not shape the answer (`attributes`, `excludedAttributes`), the PATCH of a group over
      // `LARGE_GROUP` members answers 204 (RFC 7644 §3.5.2 allows it; Entra and Okta take it).
      if (method === 'PATCH' && !projection && bare.count > LARGE_GROUP) {
        return noContent({ etag: versionOf(bare.resource) });
      }
      // PATCH, like PUT, answers 200 with the group (RFC 7644 §3.5.2), as `attributes` /
      // `excludedAttributes` shape it: `excludedAttributes=members` spares reading a large group's members.
      return groupAnswer(after, discovery, projection, bare);
    }
    throw notAllowed(method, '/Groups/{id}', 'GET, HEAD, PUT, PATCH, DELETE');
  }

  async function route(request: ScimRequest, method: string): Promise<ScimAnswer> {
    const url = new URL(request.url);
    if (!url.pathname.startsWith(basePath)) throw notFound(url.pathname);
    const rest = url.pathname.slice(basePath.length) || '/';
    // One trailing slash names the same resource (`/Users/`, `/Users/{id}/`), as Microsoft's validator sends it.
    const path = rest.length > 1 && rest.endsWith('/') ? rest.slice(0, -1) : rest;
    const discovery: DiscoveryOptions = {
      baseUrl: `${url.origin}${basePath}`,
      maxResults,
      maxBodyBytes,
      limits,
      schemas: served,
    };
    const organizationId = authenticator.authenticate(request.header('authorization'));
    const [, segment = '', id, extra] = path.split('/');
    // Endpoint names in any case (`/users`, `/serviceproviderconfig`); ids stay exact.
    const collection = ENDPOINTS.get(segment.toLowerCase());

    if (extra !== undefined || id === '') throw notFound(path);
    if (collection === '.search') {
      if (id !== undefined) throw notFound(path);
      if (method !== 'POST') throw notAllowed(method, '/.search', 'POST');
      const params = listParams(queryFromSearchBody(await readJson(request), limits), [served.user, served.group]);
      const page = await searchAll([userKind(discovery), groupKind(discovery)], organizationId, params);
      return listJson(page.resources, params.startIndex, page.total);
    }
    if ((collection === 'Users' || collection === 'Groups') && id?.toLowerCase() === '.search') {
      if (method !== 'POST') throw notAllowed(method, `/${collection}/.search`, 'POST');
      const users = collection === 'Users';
      const params = listParams(queryFromSearchBody(await readJson(request), limits), [
        users ? served.user : served.group,
      ]);
      const page = users
        ? await listPage(userKind(discovery), organizationId, params)
        : await listPage(groupKind(discovery), organizationId, params);
      return listJson(page.resources, params.startIndex, page.total);
    }
    if (collection === 'ServiceProviderConfig' && method === 'GET') return json(200, serviceProviderConfig(discovery));
    if (collection === 'ResourceTypes' && method === 'GET') {
      const all = resourceTypes(discovery);
      if (id === undefined) return json(200, listResponse(all, 1, all.length));
      const one = all.find((r) => r.id === id);
      if (!one) throw notFound(`Resource type ${id.slice(0, MAX_ID_LENGTH)}`);
      return json(200, one);
    }
    if (collection === 'Schemas' && method === 'GET') {
      const all = schemas(discovery);
      if (id === undefined) return json(200, listResponse(all, 1, all.length));
      const wanted = decodeSegment(id);
      const one = all.find((s) => s.id === wanted);
      if (!one) throw notFound(`Schema ${id.slice(0, MAX_ID_LENGTH)}`);
      return json(200, one);
    }
    if (collection === 'Groups') return groups(request, url, method, organizationId, id, discovery);
    if (collection !== 'Users') throw notFound(path);

    if (id === undefined) {
      if (method === 'GET') {
        const params = urlListParams(url, served.user, organizationId);
        const page = await listPage(userKind(discovery), organizationId, params);
        return listJson(page.resources, params.startIndex, page.total);
      }
      if (method === 'POST') {
        const projection = projectionOfUrl(url, served.user);
        const user = userFromScim(
          await readJson(request),
          { organizationId, id: randomUUID(), groups: [] },
          userOptions,
        );
        await assertUniqueUserName(organizationId, user.userName as string);
        await apply(organizationId, 'POST /Users', { type: 'user.upserted', user });
        const [resource] = await render(organizationId, [await existing(organizationId, user.id)], discovery, false);
        return json(201, project(resource as JsonObject, projection), {
          location: `${discovery.baseUrl}/Users/${user.id}`,
          etag: versionOf(resource),
        });
      }
      throw notAllowed(method, '/Users', 'GET, HEAD, POST');
    }

    const current = await existing(organizationId, id);
    const projection = projectionOfUrl(url, served.user);
    if (method === 'GET') {
      const [resource] = await render(organizationId, [current], discovery);
      return json(200, project(resource as JsonObject, projection), { etag: versionOf(resource) });
    }
    if (method === 'DELETE') {
      await checkIfMatch(request, organizationId, id);
      const ref = { id, organizationId, ...(current.externalId !== undefined && { externalId: current.externalId }) };
      await apply(organizationId, 'DELETE /Users', { type: 'user.deleted', user: ref });
      return noContent();
    }
    if (method === 'PUT' || method === 'PATCH') {
      await checkIfMatch(request, organizationId, id);
      const body = await readJson(request);
      let next: DirectoryUser;
      if (method === 'PUT') {
        next = userFromScim(body, { organizationId, id, groups: current.groups }, userOptions);
      } else {
        const operations = parsePatchRequest(body, limits);
        // A deactivation or reactivation of a user the SCIM server wrote: the user as it is, `active` set.
        const active = writtenByScim(current) ? activeOnlyPatch(operations, served.user, limits) : undefined;
        if (active !== undefined) {
          next = active === current.active ? current : { ...current, active };
        } else {
          // What the operations apply to: the user as SCIM JSON. Its `meta` is readOnly, so not read.
          const resource = userToScim(current, { baseUrl: discovery.baseUrl, version: '' }, userOptions);
          const patched = applyPatch(resource, operations, { schema: served.user, limits });
          next = userFromScim(patched, { organizationId, id, groups: current.groups }, userOptions);
        }
      }
      next = sharingUnchanged(next, current);
      if (next.userName !== current.userName) await assertUniqueUserName(organizationId, next.userName as string, id);
      await apply(organizationId, `${method} /Users`, { type: 'user.upserted', user: next });
      const [resource] = await render(organizationId, [await existing(organizationId, id)], discovery, false);
      return json(200, project(resource as JsonObject, projection), { etag: versionOf(resource) });
    }
    throw notAllowed(method, '/Users/{id}', 'GET, HEAD, PUT, PATCH, DELETE');
  }

  /** The answer for a failed request, reported to `onError`: a `ScimError` as itself, anything else as a 500 (retry). */
  function failure(error: unknown, request: ScimRequest): ScimAnswer {
    const known =
      error instanceof ScimError
        ? error
        : error instanceof EngineError && error.code === 'invalid_event'
          ? new ScimError(400, 'invalidValue', error.message)
          : new ScimError(
              500,
              undefined,
              error instanceof HandlerError
                ? 'The app failed to apply the change; retry it.'
                : 'The server failed to apply the request; retry it.',
            );
    try {
      onError({
        status: known.status,
        ...(known.scimType !== undefined && { scimType: known.scimType }),
        detail: known.detail,
        method: request.method,
        path: pathOf(request.url),
        ...(known.status >= 500 && { error }),
      });
    } catch {
      // A failing error hook must not turn one failure into another.
    }
    return json(known.status, known.toJSON(), { ...known.headers });
  }

  async function respond(request: ScimRequest): Promise<ScimAnswer> {
    const method = request.method.toUpperCase();
    // HEAD is GET without the body (RFC 9110 §9.3.2): same status and headers.
    const head = method === 'HEAD';
    let answer: ScimAnswer;
    try {
      answer = await route(request, head ? 'GET' : method);
    } catch (error) {
      answer = failure(error, request);
    }
    if (head) return { status: answer.status, headers: answer.headers };
    const { body } = answer;
    return body === undefined || typeof body === 'string' ? answer : { ...answer, body: reported(body, request) };
  }

  /** A chunked body whose failure (the store, mid-answer) reaches `onError` before the writer aborts the answer. */
  async function* reported(body: AsyncIterable<string>, request: ScimRequest): AsyncGenerator<string> {
    try {
      yield* body;
    } catch (error) {
      failure(error, request);
      throw error;
    }
  }

  return {
    respond,
    async handle(request: Request): Promise<Response> {
      return responseOf(await respond(scimRequestOf(request)));
    },
  };
}

/** The path of an absolute URL, without its query (which may hold personal data). */
function pathOf(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return '/';
  }
}

type JsonObject = Record<string, unknown>;

/** A resource whose JSON is written in chunks as the writer asks (a group over `LARGE_GROUP` members). */
interface Streamed {
  readonly id: string;
  chunks(): AsyncIterable<string>;
}

/** One resource of a list answer. */
type ListItem = JsonObject | Streamed;

const isStreamed = (item: unknown): item is Streamed =>
  typeof (item as Partial<Streamed> | null)?.chunks === 'function';

/** `attributes` / `excludedAttributes`, resolved. */
interface Projection {
  readonly only: readonly ResolvedPath[] | undefined;
  readonly without: readonly ResolvedPath[] | undefined;
}

/** What a list request asks of one resource type. */
interface TypeParams {
  /** `true`: every resource of the type; `false`: none (a root search's filter on what it lacks). */
  readonly filter: Filter | boolean;
  /** The sort attribute, when sorting and the type declares it. */
  readonly sortBy: ResolvedPath | undefined;
  readonly projection: Projection | undefined;
}

/** Query strings whose list parameters are remembered, Users and Groups together (see `urlListParams`). */
const LIST_PARAMS_CACHE_SIZE = 256;
/** A longer query string is parsed every time rather than kept. */
const LIST_PARAMS_KEY_LIMIT = 2_048;

interface ListParams {
  readonly startIndex: number;
  readonly count: number;
  readonly sorted: boolean;
  readonly descending: boolean;
  /** One per searched resource type, in the order searched. */
  readonly types: readonly TypeParams[];
}

interface SortEntry {
  readonly id: string;
  /** A string (case-folded) for string attributes; a number for integer, decimal and dateTime ones. */
  readonly key: string | number;
}

/** One type's matches: their number, and the page (`rows` as read, or `ids` to read) or, sorting, every match's key. */
interface Collected<T> {
  readonly total: number;
  readonly rows?: readonly T[];
  readonly ids: string[];
  readonly keyed: SortEntry[];
}

/** By sort key in the given direction, ties by id ascending (a stable order across pages). */
function byKey(descending: boolean): (a: SortEntry, b: SortEntry) => number {
  const direction = descending ? -1 : 1;
  return (a, b) => (a.key < b.key ? -direction : a.key > b.key ? direction : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** How the list code reaches one resource type in the store. */
interface ResourceKinds<T> {
  list(organizationId: string, page: PageRequest): Promise<T[]>;
  count(organizationId: string): Promise<number>;
  getMany(organizationId: string, ids: readonly string[]): Promise<(T | undefined)[]>;
  /**
   * Index-backed `eq` lookups, by lower-cased attribute name: the rows sharing the value, ascending
   * `id`, or `undefined` when more than `LOOKUP_LIMIT` do.
   */
  lookups: ReadonlyMap<string, (organizationId: string, value: string) => Promise<readonly T[] | undefined>>;
  /** The lookups whose key no two resources share, so one row is every candidate of an `and`. */
  unique: ReadonlySet<string>;
  /** Rows as SCIM JSON; `members: false` leaves a group's members out. */
  render(organizationId: string, rows: readonly T[], options: { members: boolean }): Promise<JsonObject[]>;
  /**
   * Rows as a list answer holds them, shaped by `projection`, where that differs from `render`: a
   * group over `LARGE_GROUP` members comes as chunks, its members read a page at a time.
   */
  answer?(organizationId: string, rows: readonly T[], projection: Projection | undefined): Promise<ListItem[]>;
}

/** Endpoint names by lower-cased spelling: clients send `/users` and `/serviceproviderconfig` too. */
const ENDPOINTS: ReadonlyMap<string, string> = new Map(
  ['Users', 'Groups', 'ServiceProviderConfig', 'ResourceTypes', 'Schemas', '.search'].map((name) => [
    name.toLowerCase(),
    name,
  ]),
);

const CORE_SCHEMA = /^urn:ietf:params:scim:schemas:core:2\.0:(user|group)$/i;

/** An `eq` on an indexed attribute of the core schema, with a string value: one store lookup. */
function lookupOf<T>(filter: Filter, kind: ResourceKinds<T>) {
  if (filter.op !== 'eq' || typeof filter.value !== 'string' || filter.path.subAttribute !== undefined)
    return undefined;
  if (filter.path.schema !== undefined && !CORE_SCHEMA.test(filter.path.schema)) return undefined;
  const name = filter.path.attribute.toLowerCase();
  const find = kind.lookups.get(name);
  const value = filter.value;
  return find && { name, find: (organizationId: string) => find(organizationId, value) };
}

/**
 * The store lookup behind `filter`: exact when the filter is `<indexed attribute> eq "<string>"`;
 * a candidate to check against the whole filter when an `and` holds an `eq` on a unique key
 * (`userName eq "…" and active eq true`). `undefined` when the filter needs a scan.
 */
function indexedLookup<T>(
  filter: Filter,
  kind: ResourceKinds<T>,
): { find: (organizationId: string) => Promise<readonly T[] | undefined>; exact: boolean } | undefined {
  const exact = lookupOf(filter, kind);
  if (exact) return { find: exact.find, exact: true };
  const conjuncts = (node: Filter): Filter[] =>
    node.op === 'and' ? [...conjuncts(node.left), ...conjuncts(node.right)] : [node];
  if (filter.op !== 'and') return undefined;
  for (const conjunct of conjuncts(filter)) {
    const lookup = lookupOf(conjunct, kind);
    if (lookup && kind.unique.has(lookup.name)) return { find: lookup.find, exact: false };
  }
  return undefined;
}

/** Whether a filter names `attribute` (a top-level name, any case), so a scan must render it. */
function mentions(filter: Filter, attribute: string): boolean {
  switch (filter.op) {
    case 'and':
    case 'or':
      return mentions(filter.left, attribute) || mentions(filter.right, attribute);
    case 'not':
      return mentions(filter.filter, attribute);
    default:
      return filter.path.attribute.toLowerCase() === attribute;
  }
}

function wantsMembers(projection: Projection | undefined): boolean {
  if (!projection) return true;
  const isMembers = (path: ResolvedPath) => path.extension === undefined && path.attribute.name === 'members';
  if (projection.only) return projection.only.some(isMembers);
  return !projection.without?.some((path) => isMembers(path) && !path.sub);
}

/** `meta.created` and `meta.lastModified` from a resource's version (milliseconds, as SCIM clients expect). */
function metaTimes(version: ResourceVersion | undefined, remember = true): { created?: string; lastModified?: string } {
  if (!version) return {};
  let times = remember ? metaTimesOf.get(version) : undefined;
  if (!times) {
    const lastModified = formatMillisIso(version.at);
    times =
      version.createdAt !== undefined
        ? { created: formatMillisIso(version.createdAt), lastModified }
        : { lastModified };
    if (remember) metaTimesOf.set(version, times);
  }
  return times;
}

/**
 * `meta` times per version object: a store that hands out the same version object until it changes
 * (the memory store) formats them once; a database's fresh objects are formatted each time.
 */
const metaTimesOf = new WeakMap<ResourceVersion, { created?: string; lastModified?: string }>();

/** A user whose SCIM form the SCIM server stored (`attributes.scim`), not one that came from Scalekit. */
function writtenByScim(user: DirectoryUser): boolean {
  return user.origin === 'scim' && Object.hasOwn(user.attributes, 'scim') && isObject(user.attributes.scim);
}

/**
 * `next` with the parts equal to `current`'s replaced by `current`'s own (frozen, in the memory
 * store) objects. A PUT that resends the user with only `active` or a group changed (Okta's way),
 * or a PATCH of something the model holds itself, then leaves the stored attributes the same
 * object: the store keeps it instead of copying it, and the next answer reuses its sanitized
 * render and the text its fingerprint was computed from.
 */
function sharingUnchanged(next: DirectoryUser, current: DirectoryUser): DirectoryUser {
  const shared = { ...next };
  if (jsonEqual(next.attributes, current.attributes)) shared.attributes = current.attributes;
  if (jsonEqual(next.customAttributes, current.customAttributes)) shared.customAttributes = current.customAttributes;
  if (jsonEqual(next.roles, current.roles)) shared.roles = current.roles;
  if (jsonEqual(next.groups, current.groups)) shared.groups = current.groups;
  return shared;
}

function versionOf(resource: unknown): string {
  return ((resource as { meta?: { version?: string } }).meta?.version ?? '') as string;
}

/** A 400 naming up to five member ids that name no user. */
function noSuchUsers(missing: readonly string[]): ScimError {
  const shown = missing.slice(0, 5).map((id) => JSON.stringify(id.slice(0, 64)));
  return new ScimError(
    400,
    'invalidValue',
    `No such users: ${shown.join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''}.`,
  );
}

/**
 * Members above which a group is large: a PATCH the client did not shape answers 204 instead of the
 * whole group, and a group answer streams its members.
 */
const LARGE_GROUP = 1_000;
/** Members read and serialized at a time when a large group's members are streamed. */
const MEMBER_PAGE = 500;

/** Users joining and leaving a group, disjoint. */
interface MemberDelta {
  readonly added: string[];
  readonly removed: string[];
}

const GROUP_URN_PREFIX = `${SCHEMAS.group.toLowerCase()}:`;

/** A path without the core Group URN, lower-cased (`urn:…:Group:members` is `members`). */
function barePath(path: string): string {
  const lower = path.trim().toLowerCase();
  return lower.startsWith(GROUP_URN_PREFIX) ? lower.slice(GROUP_URN_PREFIX.length) : lower;
}

/** Whether an operation may read or write `members`: its path names them, or its path-less value has them. */
function touchesMembers(operation: PatchOperation): boolean {
  if (operation.path === undefined) {
    const value = operation.value;
    return (
      typeof value !== 'object' ||
      value === null ||
      Array.isArray(value) ||
      Object.keys(value).some((key) => barePath(key).startsWith('members'))
    );
  }
  return barePath(operation.path).startsWith('members');
}

/** Member ids of an `add`/`remove` value: `[{ "value": id }, …]`, one such object, or bare ids. `undefined` for anything else. */
function memberIdsOf(value: unknown): string[] | undefined {
  const ids: string[] = [];
  for (const item of Array.isArray(value) ? value : [value]) {
    const id = typeof item === 'string' ? item : isObject(item) ? own(item, 'value') : undefined;
    if (typeof id !== 'string' || id === '') return undefined;
    ids.push(id);
  }
  return ids;
}

/** The ids of `value eq "…"` (alone or joined by `or`), or `undefined` for any other filter. */
function idsOfValueFilter(filter: Filter): string[] | undefined {
  if (filter.op === 'or') {
    const left = idsOfValueFilter(filter.left);
    const right = idsOfValueFilter(filter.right);
    return left && right ? [...left, ...right] : undefined;
  }
  if (filter.op !== 'eq' || typeof filter.value !== 'string' || filter.value === '') return undefined;
  const { schema, attribute, subAttribute } = filter.path;
  return schema === undefined && subAttribute === undefined && attribute.toLowerCase() === 'value'
    ? [filter.value]
    : undefined;
}

/**
 * A PATCH whose every operation adds or removes named members (what Entra and Okta send: `add` of
 * `members`, `remove` of `members` with a value or of `members[value eq "…"]`) as the net change
 * per user, the last operation naming a user deciding it. `undefined` for anything else (a
 * `replace` of members, a removal of all of them, another attribute), which takes the general path.
 */
function memberDelta(operations: readonly PatchOperation[]): MemberDelta | undefined {
  const last = new Map<string, 'add' | 'remove'>();
  for (const operation of operations) {
    if (operation.path === undefined || operation.op === 'replace') return undefined;
    const path = barePath(operation.path);
    let ids: string[] | undefined;
    if (path === 'members') {
      // A removal without a value removes every member: the general path.
      if (operation.op === 'remove' && (operation.value === undefined || operation.value === null)) return undefined;
      ids = memberIdsOf(operation.value);
    } else if (operation.op === 'remove' && path.startsWith('members[')) {
      let filter: Filter;
      try {
        filter = parseFilter(operation.path);
      } catch {
        return undefined;
      }
      const { schema, attribute, subAttribute } = filter.op === 'valuePath' ? filter.path : { attribute: '' };
      if (filter.op !== 'valuePath' || subAttribute !== undefined || attribute.toLowerCase() !== 'members') {
        return undefined;
      }
      if (schema !== undefined && schema.toLowerCase() !== SCHEMAS.group.toLowerCase()) return undefined;
      ids = idsOfValueFilter(filter.filter);
    }
    if (!ids) return undefined;
    for (const id of ids) {
      last.delete(id);
      last.set(id, operation.op);
    }
  }
  const added: string[] = [];
  const removed: string[] = [];
  for (const [id, op] of last) (op === 'add' ? added : removed).push(id);
  return { added, removed };
}

function hasMembers(body: unknown): boolean {
  return typeof body === 'object' && body !== null && Object.hasOwn(body, 'members') && !!(body as JsonObject).members;
}

/** A percent-encoded path segment, decoded; malformed encoding is kept as is (it then names nothing). */
function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const own = (object: JsonObject, key: string): unknown => (Object.hasOwn(object, key) ? object[key] : undefined);

/** The object a resolved path's attribute lives in: the resource, or its extension's object. */
function holderOf(resource: JsonObject, path: ResolvedPath): JsonObject | undefined {
  if (path.extension === undefined) return resource;
  const extension = own(resource, path.extension);
  return isObject(extension) ? extension : undefined;
}

/**
 * `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5): `id` and `schemas` always stay, and so
 * does `meta` under `attributes` (clients read `meta.version` and `meta.location` from any answer;
 * `excludedAttributes=meta` drops it); a sub-attribute name
 * selects (or drops) only that sub-attribute, and a value or extension left empty is left out, with
 * `schemas` naming exactly the extensions the answer holds. Names were resolved against the schema,
 * so every key read or written here is a declared one.
 */
function project(resource: JsonObject, projection: Projection | undefined): JsonObject {
  if (!projection) return resource;
  const out = projection.only ? selected(resource, projection.only) : excluded(resource, projection.without ?? []);
  const schemas = own(resource, 'schemas');
  if (Array.isArray(schemas)) {
    out.schemas = schemas.filter((urn, i) => i === 0 || (typeof urn === 'string' && Object.hasOwn(out, urn)));
  }
  return out;
}

function selected(resource: JsonObject, only: readonly ResolvedPath[]): JsonObject {
  const out: JsonObject = {};
  for (const key of ['schemas', 'id']) if (Object.hasOwn(resource, key)) out[key] = resource[key];
  for (const path of only) {
    const from = holderOf(resource, path);
    const value = from && own(from, path.attribute.name);
    if (value === undefined) continue;
    let into = out;
    if (path.extension !== undefined) {
      const existing = own(out, path.extension);
      into = isObject(existing) ? existing : {};
      out[path.extension] = into;
    }
    const name = path.attribute.name;
    const sub = path.sub;
    if (!sub) {
      into[name] = value;
      continue;
    }
    const pick = (item: unknown, previous: unknown) =>
      isObject(item) && Object.hasOwn(item, sub.name)
        ? { ...(isObject(previous) ? previous : {}), [sub.name]: item[sub.name] }
        : previous;
    if (Array.isArray(value)) {
      const previous = Array.isArray(into[name]) ? (into[name] as unknown[]) : [];
      // Positions are kept while picking (two sub-attributes of one value meet in one object).
      into[name] = value.map((item, i) => pick(item, previous[i]) ?? {});
    } else {
      const picked = pick(value, own(into, name));
      if (picked !== undefined) into[name] = picked;
    }
  }
  for (const key of Object.keys(out)) {
    const value = out[key];
    if (Array.isArray(value)) {
      const kept = value.filter((item) => !isObject(item) || Object.keys(item).length > 0);
      if (kept.length > 0) out[key] = kept;
      else delete out[key];
    } else if (isObject(value) && key.includes(':')) {
      // An extension: its multi-valued attributes are pruned the same way.
      for (const name of Object.keys(value)) {
        const item = value[name];
        if (!Array.isArray(item)) continue;
        const kept = item.filter((v) => !isObject(v) || Object.keys(v).length > 0);
        if (kept.length > 0) value[name] = kept;
        else delete value[name];
      }
      if (Object.keys(value).length === 0) delete out[key];
    }
  }
  return out;
}

function excluded(resource: JsonObject, without: readonly ResolvedPath[]): JsonObject {
  const out: JsonObject = { ...resource };
  for (const path of without) {
    if (path.attribute.returned === 'always' || path.attribute.name === 'schemas') continue;
    let holder = out;
    if (path.extension !== undefined) {
      const extension = own(out, path.extension);
      if (!isObject(extension)) continue;
      holder = { ...extension };
      out[path.extension] = holder;
    }
    const name = path.attribute.name;
    if (!path.sub) {
      delete holder[name];
    } else {
      const subName = path.sub.name;
      const drop = (item: unknown) => {
        if (!isObject(item)) return item;
        const { [subName]: _dropped, ...rest } = item;
        return rest;
      };
      const value = own(holder, name);
      if (Array.isArray(value)) {
        const kept = value.map(drop).filter((item) => !isObject(item) || Object.keys(item).length > 0);
        if (kept.length > 0) holder[name] = kept;
        else delete holder[name];
      } else if (value !== undefined) {
        const rest = drop(value);
        if (isObject(rest) && Object.keys(rest).length === 0) delete holder[name];
        else holder[name] = rest;
      }
    }
    if (path.extension !== undefined && Object.keys(holder).length === 0) delete out[path.extension];
  }
  return out;
}

/**
 * A resource's sort key for `sortBy` (RFC 7644 §3.4.2.3): the first value the path reaches, ordered as
 * its type orders. Strings case-folded; integers and decimals as numbers (`9` before `10`); dateTimes
 * as instants (an offset compares as the UTC time it names). A resource without a value sorts as the
 * smallest of its type, so one sortBy never mixes strings and numbers.
 */
function sortKey(resource: JsonObject, path: ResolvedPath): string | number {
  const [value] = valuesAt(resource, {
    ...(path.extension !== undefined && { schema: path.extension }),
    attribute: path.attribute.name,
    ...(path.sub !== undefined && { subAttribute: path.sub.name }),
  });
  const type = (path.sub ?? path.attribute).type;
  if (type === 'integer' || type === 'decimal') return typeof value === 'number' ? value : Number.NEGATIVE_INFINITY;
  if (type === 'dateTime') {
    const instant = typeof value === 'string' ? Date.parse(value.replace(/(\.\d{3})\d+/, '$1')) : Number.NaN;
    return Number.isNaN(instant) ? Number.NEGATIVE_INFINITY : instant;
  }
  return typeof value === 'string' ? value.toLowerCase() : value === undefined || value === null ? '' : String(value);
}

/**
 * A list answer. Up to `RENDER_CHUNK` resources it is one string; above, it is serialized a chunk of
 * resources at a time as the writer asks, the event loop turning between chunks: a page of 200
 * resources of up to 64 KiB is 13 MB of JSON, too much to stringify and join in one synchronous step.
 */
function listJson(resources: readonly unknown[], startIndex: number, totalResults: number): ScimAnswer {
  const headers = { 'content-type': CONTENT_TYPE };
  const streamed = resources.some(isStreamed);
  if (resources.length <= RENDER_CHUNK && !streamed) {
    // What `JSON.stringify(listResponse(…))` gives, with each resource's text from `jsonText`.
    let items = '';
    for (const [i, resource] of resources.entries()) items += i > 0 ? `,${jsonText(resource)}` : jsonText(resource);
    return {
      status: 200,
      headers,
      body: `{"schemas":${LIST_SCHEMAS},"totalResults":${totalResults},"itemsPerPage":${resources.length},"startIndex":${startIndex},"Resources":[${items}]}`,
    };
  }
  // `head` ends with `"Resources":[]}`: the resources go between the brackets.
  const head = JSON.stringify({ ...listResponse([], startIndex, totalResults), itemsPerPage: resources.length });
  async function* chunks(): AsyncGenerator<string> {
    yield head.slice(0, -2);
    for (let next = 0; next < resources.length; ) {
      if (next > 0) await nextTurn();
      const end = Math.min(next + RENDER_CHUNK, resources.length);
      let text = '';
      for (; next < end; next++) {
        const item = resources[next];
        if (isStreamed(item)) {
          // A large group: what is pending goes first, then the group's own chunks.
          yield `${text}${next > 0 ? ',' : ''}`;
          text = '';
          yield* item.chunks();
        } else text += `${next > 0 ? ',' : ''}${jsonText(item)}`;
      }
      yield next < resources.length ? text : `${text}]}`;
    }
  }
  return { status: 200, headers, body: chunks() };
}

const LIST_SCHEMAS = JSON.stringify([SCHEMAS.listResponse]);

function listResponse(resources: readonly unknown[], startIndex: number, totalResults: number) {
  return {
    schemas: [SCHEMAS.listResponse],
    totalResults,
    itemsPerPage: resources.length,
    startIndex,
    Resources: resources,
  };
}
