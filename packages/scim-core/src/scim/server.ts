/**
 * The SCIM 2.0 server (RFC 7644), Web-standard: `handle(Request) → Response`: discovery, `/Users`
 * and `/Groups`. Mount it at `basePath` (default `/scim/v2`) for every method.
 *
 * Every write becomes `source: 'scim'` events through the app's engine, so SCIM users reach the same
 * handlers as Scalekit ones. A group's membership change becomes one user event per member whose
 * groups changed, as Scalekit expresses memberships. Every read is scoped to the organization of the
 * bearer token.
 */
import { randomUUID } from 'node:crypto';
import type { ProvisioningEngine } from '../engine/engine.js';
import { BodyTooLargeError, DEFAULT_MAX_BODY_BYTES, readBodyWithLimit } from '../http/body.js';
import type { DirectoryEvent, DirectoryGroup, DirectoryUser } from '../model.js';
import type { PageRequest, ResourceVersion } from '../store/types.js';
import { formatNanos } from '../time.js';
import {
  caseExactOf,
  type DiscoveryOptions,
  resourceTypes,
  SCHEMAS,
  schemas,
  serviceProviderConfig,
  USER_ATTRIBUTES,
} from './discovery.js';
import { ScimError } from './errors.js';
import { type Filter, parseFilter } from './filter.js';
import { matchesFilter } from './match.js';
import { applyPatch, parsePatchRequest } from './patch.js';
import { groupFromScim, groupToScim, userFromScim, userToScim } from './resources.js';
import type { ScimAuthenticator } from './tokens.js';

export interface ScimServerOptions {
  engine: ProvisioningEngine;
  authenticator: ScimAuthenticator;
  /** The path the server is mounted at. Default `/scim/v2`. */
  basePath?: string;
  /** Most resources one list answers. Default 200. */
  maxResults?: number;
  maxBodyBytes?: number;
  /** Milliseconds since the epoch; injectable for tests. */
  now?: () => number;
}

const CONTENT_TYPE = 'application/scim+json';

/** An event without what every SCIM write stamps on it. */
type Change = DirectoryEvent extends infer E
  ? E extends DirectoryEvent
    ? Omit<E, 'id' | 'organizationId' | 'occurredAt' | 'source' | 'sourceType'>
    : never
  : never;
const caseExact = caseExactOf(USER_ATTRIBUTES);

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { 'content-type': CONTENT_TYPE, ...headers },
  });
}

const notFound = (what: string) => new ScimError(404, undefined, `${what} not found.`);
const notAllowed = (method: string, path: string, allow: string) =>
  new ScimError(405, undefined, `${method} is not allowed on ${path}.`, { allow });

export interface ScimServer {
  /** Answers any request under `basePath`; every error is a SCIM error body, never a thrown error. */
  handle(request: Request): Promise<Response>;
}

/** Creates the SCIM server on the app's engine: writes become `source: 'scim'` events. */
export function createScimServer(options: ScimServerOptions): ScimServer {
  const { engine, authenticator } = options;
  const store = engine.store;
  const basePath = (options.basePath ?? '/scim/v2').replace(/\/$/, '');
  const maxResults = options.maxResults ?? 200;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const clock = options.now ?? Date.now;
  let lastNanos = 0n;
  /** Strictly increasing, so two writes in one millisecond are still ordered. */
  const stamp = () => {
    const now = BigInt(clock()) * 1_000_000n;
    lastNanos = now > lastNanos ? now : lastNanos + 1n;
    return formatNanos(lastNanos);
  };

  async function readJson(request: Request): Promise<unknown> {
    let bytes: Uint8Array;
    try {
      bytes = await readBodyWithLimit(request, maxBodyBytes);
    } catch (error) {
      if (error instanceof BodyTooLargeError)
        throw new ScimError(413, undefined, `The body is over ${maxBodyBytes} bytes.`);
      throw error;
    }
    try {
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    } catch {
      throw new ScimError(400, 'invalidSyntax', 'The body is not UTF-8 JSON.');
    }
  }

  async function render(organizationId: string, users: readonly DirectoryUser[], discovery: DiscoveryOptions) {
    const ids = users.map((u) => u.id);
    const [prints, versions] = await Promise.all([
      store.getUserFingerprints(organizationId, ids),
      store.getVersions(ids.map((id) => ({ organizationId, kind: 'user' as const, id }))),
    ]);
    return users.map((user, i) =>
      userToScim(user, { baseUrl: discovery.baseUrl, version: prints[i] ?? 'none', ...metaTimes(versions[i]) }),
    );
  }

  /** Sends a change through the engine as a `source: 'scim'` event, stamped now. */
  async function apply(organizationId: string, sourceType: string, change: Change): Promise<void> {
    const event = {
      ...change,
      id: `scim_${randomUUID()}`,
      organizationId,
      occurredAt: stamp(),
      source: 'scim',
      sourceType,
    } as DirectoryEvent;
    const result = await engine.process(event);
    if (result.status === 'in_flight') throw new ScimError(409, undefined, 'The same change is being applied; retry.');
  }

  /** Every row of one organization's users or groups, in id order: for filters no index answers, and `sortBy`. */
  async function listAll<T extends { id: string }>(list: (page: PageRequest) => Promise<T[]>): Promise<T[]> {
    const all: T[] = [];
    for (let after: string | undefined; ; ) {
      const page = await list({ limit: 1000, ...(after !== undefined && { after }) });
      if (page.length === 0) return all;
      all.push(...page);
      after = page[page.length - 1]?.id;
    }
  }

  /** `filter`, `startIndex` (1-based, at least 1) and `count` (0 to `maxResults`) of a list request. */
  function listParams(url: URL): ListParams {
    const filterText = url.searchParams.get('filter');
    const requested = Number.parseInt(url.searchParams.get('count') ?? String(maxResults), 10);
    return {
      filter: filterText ? parseFilter(filterText) : undefined,
      startIndex: Math.max(1, Number.parseInt(url.searchParams.get('startIndex') ?? '1', 10) || 1),
      count: Math.min(maxResults, Math.max(0, Number.isNaN(requested) ? maxResults : requested)),
    };
  }

  async function existing(organizationId: string, id: string): Promise<DirectoryUser> {
    const user = await store.getUser(organizationId, id);
    if (!user) throw notFound(`User ${id}`);
    return user;
  }

  async function checkIfMatch(request: Request, organizationId: string, id: string) {
    const expected = request.headers.get('if-match');
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
   * A list request's page, rendered, and its `totalResults`, reading as few rows as the store can
   * give: no filter and no `sortBy` reads one page (an offset over the id index) and a count; a
   * filter an index answers (`userName`, `externalId`, `id`, a group's `displayName`) is one
   * lookup; anything else scans. Each row is rendered once; `sortBy` orders every match before paging.
   */
  async function listPage<T extends { id: string }>(
    kind: ResourceKinds<T>,
    organizationId: string,
    { filter, startIndex, count }: ListParams,
    url: URL,
  ): Promise<{ resources: unknown[]; total: number }> {
    const sorted = url.searchParams.has('sortBy');
    if (!filter && !sorted) {
      const [rows, total] = await Promise.all([
        count === 0 ? [] : kind.list(organizationId, { offset: startIndex - 1, limit: count }),
        kind.count(organizationId),
      ]);
      return { resources: await kind.render(organizationId, rows), total };
    }
    const window = <X>(list: readonly X[]) => list.slice(startIndex - 1, startIndex - 1 + count);
    const everyRow = () => listAll((page) => kind.list(organizationId, page));
    const lookup = filter && indexedLookup(filter, kind);
    if (filter && !lookup) {
      const rendered = await kind.render(organizationId, await everyRow());
      const matches = rendered.filter((resource) => matchesFilter(resource, filter, { caseExact }));
      return { resources: window(sorted ? sortResources(matches, url) : matches), total: matches.length };
    }
    // Each index matches as its attribute's `caseExact` says (userName and displayName
    // case-insensitively, ids exactly), so a row it finds needs no second check.
    const found = lookup && (await lookup(organizationId));
    const rows = lookup ? (found ? [found] : []) : await everyRow();
    const resources = sorted
      ? window(sortResources(await kind.render(organizationId, rows), url))
      : await kind.render(organizationId, window(rows));
    return { resources, total: rows.length };
  }

  function userKind(discovery: DiscoveryOptions): ResourceKinds<DirectoryUser> {
    return {
      list: (organizationId, page) => store.listUsers(organizationId, page),
      count: (organizationId) => store.countUsers(organizationId),
      lookups: {
        id: (organizationId, id) => store.getUser(organizationId, id),
        username: (organizationId, userName) => store.findUser(organizationId, { userName }),
        externalid: (organizationId, externalId) => store.findUser(organizationId, { externalId }),
      },
      render: (organizationId, users) => render(organizationId, users, discovery),
    };
  }

  function groupKind(discovery: DiscoveryOptions): ResourceKinds<DirectoryGroup> {
    return {
      list: (organizationId, page) => store.listGroups(organizationId, page),
      count: (organizationId) => store.countGroups(organizationId),
      lookups: {
        id: (organizationId, id) => store.getGroup(organizationId, id),
        displayname: (organizationId, displayName) => store.findGroup(organizationId, { displayName }),
        externalid: (organizationId, externalId) => store.findGroup(organizationId, { externalId }),
      },
      render: (_organizationId, groups) => Promise.all(groups.map((group) => renderGroup(group, discovery))),
    };
  }

  // ── Groups ──────────────────────────────────────────────────────────────────────────────────

  async function renderGroup(group: DirectoryGroup, discovery: DiscoveryOptions) {
    const organizationId = group.organizationId;
    const memberIds = await store.listGroupMemberIds(organizationId, group.id);
    const members = await store.getUsers(organizationId, memberIds);
    const [[print], [version]] = await Promise.all([
      store.getGroupFingerprints(organizationId, [group.id]),
      store.getVersions([{ organizationId, kind: 'group', id: group.id }]),
    ]);
    return groupToScim(
      group,
      memberIds.map((memberId, i) => {
        const display = members[i]?.name ?? members[i]?.userName;
        return display === undefined ? { id: memberId } : { id: memberId, display };
      }),
      {
        baseUrl: discovery.baseUrl,
        // The version covers the members too, so an If-Match sees a membership change.
        version: `${print ?? 'none'}.${memberIds.length}.${version?.eventId ?? ''}`,
        ...metaTimes(version),
      },
    );
  }

  async function existingGroup(organizationId: string, id: string): Promise<DirectoryGroup> {
    const group = await store.getGroup(organizationId, id);
    if (!group) throw notFound(`Group ${id}`);
    return group;
  }

  /**
   * Writes a group and its members: the group's event, then one event per user whose groups change.
   * Members must be users of the same organization.
   */
  async function writeGroup(group: DirectoryGroup, memberIds: readonly string[] | undefined, method: string) {
    const { organizationId } = group;
    await apply(organizationId, `${method} /Groups`, { type: 'group.upserted', group });
    if (memberIds === undefined) return;
    const wanted = new Set(memberIds);
    const current = new Set(await store.listGroupMemberIds(organizationId, group.id));
    const changed = [...new Set([...wanted, ...current])].filter((id) => wanted.has(id) !== current.has(id));
    const users = await store.getUsers(organizationId, changed);
    const missing = changed.filter((_, i) => !users[i] && wanted.has(changed[i] as string));
    if (missing.length > 0) throw new ScimError(400, 'invalidValue', `No such users: ${missing.join(', ')}.`);
    for (const user of users) {
      if (!user) continue;
      const others = user.groups.filter((g) => g.id !== group.id);
      const groups = wanted.has(user.id) ? [...others, { id: group.id, name: group.displayName }] : others;
      groups.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      await apply(organizationId, `${method} /Groups members`, { type: 'user.upserted', user: { ...user, groups } });
    }
  }

  async function groups(
    request: Request,
    url: URL,
    method: string,
    organizationId: string,
    id: string | undefined,
    discovery: DiscoveryOptions,
  ): Promise<Response> {
    if (id === undefined) {
      if (method === 'GET') {
        const params = listParams(url);
        const page = await listPage(groupKind(discovery), organizationId, params, url);
        return json(200, listResponse(project(page.resources, url), params.startIndex, page.total));
      }
      if (method === 'POST') {
        const { group, memberIds } = groupFromScim(await readJson(request), { organizationId, id: randomUUID() });
        await writeGroup(group, memberIds, 'POST');
        const resource = await renderGroup(await existingGroup(organizationId, group.id), discovery);
        return json(201, resource, { location: `${discovery.baseUrl}/Groups/${group.id}`, etag: versionOf(resource) });
      }
      throw notAllowed(method, '/Groups', 'GET, HEAD, POST');
    }
    const current = await existingGroup(organizationId, id);
    const rendered = await renderGroup(current, discovery);
    const ifMatch = request.headers.get('if-match');
    if (method !== 'GET' && ifMatch && ifMatch !== '*' && ifMatch !== versionOf(rendered)) {
      throw new ScimError(412, undefined, 'The resource changed since that version (If-Match).');
    }
    if (method === 'GET') return json(200, project([rendered], url)[0], { etag: versionOf(rendered) });
    if (method === 'DELETE') {
      await apply(organizationId, 'DELETE /Groups', { type: 'group.deleted', group: current });
      return new Response(null, { status: 204 });
    }
    if (method === 'PUT' || method === 'PATCH') {
      const body = await readJson(request);
      const next =
        method === 'PUT'
          ? groupFromScim(body, { organizationId, id })
          : groupFromScim(applyPatch(rendered, parsePatchRequest(body)), { organizationId, id });
      // A PUT without `members` leaves them alone (Okta renames that way); a PATCH always knows them.
      const keepMembers = method === 'PUT' && !(body as { members?: unknown }).members;
      await writeGroup(next.group, keepMembers ? undefined : next.memberIds, method);
      const resource = await renderGroup(await existingGroup(organizationId, id), discovery);
      return json(200, resource, { etag: versionOf(resource) });
    }
    throw notAllowed(method, '/Groups/{id}', 'GET, HEAD, PUT, PATCH, DELETE');
  }

  async function route(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (!url.pathname.startsWith(basePath)) throw notFound(url.pathname);
    const path = url.pathname.slice(basePath.length) || '/';
    const discovery: DiscoveryOptions = { baseUrl: `${url.origin}${basePath}`, maxResults, maxBodyBytes };
    const organizationId = authenticator.authenticate(request.headers.get('authorization'));
    const method = request.method.toUpperCase();
    const [, collection, id, extra] = path.split('/');

    if (extra !== undefined) throw notFound(path);
    if (collection === 'ServiceProviderConfig' && method === 'GET') return json(200, serviceProviderConfig(discovery));
    if (collection === 'ResourceTypes' && method === 'GET') {
      const all = resourceTypes(discovery);
      if (id === undefined) return json(200, listResponse(all, 1, all.length));
      const one = all.find((r) => r.id === id);
      if (!one) throw notFound(`Resource type ${id}`);
      return json(200, one);
    }
    if (collection === 'Schemas' && method === 'GET') {
      const all = schemas(discovery);
      if (id === undefined) return json(200, listResponse(all, 1, all.length));
      const one = all.find((s) => s.id === decodeURIComponent(id));
      if (!one) throw notFound(`Schema ${id}`);
      return json(200, one);
    }
    if (collection === 'Groups') return groups(request, url, method, organizationId, id, discovery);
    if (collection !== 'Users') throw notFound(path);

    if (id === undefined) {
      if (method === 'GET') {
        const params = listParams(url);
        const page = await listPage(userKind(discovery), organizationId, params, url);
        return json(200, listResponse(project(page.resources, url), params.startIndex, page.total));
      }
      if (method === 'POST') {
        const user = userFromScim(await readJson(request), { organizationId, id: randomUUID(), groups: [] });
        await assertUniqueUserName(organizationId, user.userName as string);
        await apply(organizationId, 'POST /Users', { type: 'user.upserted', user });
        const [resource] = await render(organizationId, [await existing(organizationId, user.id)], discovery);
        return json(201, resource, { location: `${discovery.baseUrl}/Users/${user.id}`, etag: versionOf(resource) });
      }
      throw notAllowed(method, '/Users', 'GET, HEAD, POST');
    }

    const current = await existing(organizationId, id);
    if (method === 'GET') {
      const [resource] = await render(organizationId, [current], discovery);
      return json(200, project([resource], url)[0], { etag: versionOf(resource) });
    }
    if (method === 'DELETE') {
      await checkIfMatch(request, organizationId, id);
      const ref = { id, organizationId, ...(current.externalId !== undefined && { externalId: current.externalId }) };
      await apply(organizationId, 'DELETE /Users', { type: 'user.deleted', user: ref });
      return new Response(null, { status: 204 });
    }
    if (method === 'PUT' || method === 'PATCH') {
      await checkIfMatch(request, organizationId, id);
      const body = await readJson(request);
      let next: DirectoryUser;
      if (method === 'PUT') {
        next = userFromScim(body, { organizationId, id, groups: current.groups });
      } else {
        const [resource] = await render(organizationId, [current], discovery);
        next = userFromScim(applyPatch(resource as Record<string, unknown>, parsePatchRequest(body)), {
          organizationId,
          id,
          groups: current.groups,
        });
      }
      if (next.userName !== current.userName) await assertUniqueUserName(organizationId, next.userName as string, id);
      await apply(organizationId, `${method} /Users`, { type: 'user.upserted', user: next });
      const [resource] = await render(organizationId, [await existing(organizationId, id)], discovery);
      return json(200, resource, { etag: versionOf(resource) });
    }
    throw notAllowed(method, '/Users/{id}', 'GET, HEAD, PUT, PATCH, DELETE');
  }

  return {
    async handle(request: Request): Promise<Response> {
      // HEAD is GET without the body (RFC 9110 §9.3.2): same status and headers.
      const head = request.method.toUpperCase() === 'HEAD';
      let response: Response;
      try {
        response = await route(head ? new Request(request.url, { method: 'GET', headers: request.headers }) : request);
      } catch (error) {
        response =
          error instanceof ScimError
            ? json(error.status, error.toJSON(), { ...error.headers })
            : json(500, new ScimError(500, undefined, 'The server failed to apply the request; retry it.').toJSON());
      }
      return head ? new Response(null, { status: response.status, headers: response.headers }) : response;
    },
  };
}

interface ListParams {
  readonly filter: Filter | undefined;
  readonly startIndex: number;
  readonly count: number;
}

/** How the list code reaches one resource type in the store. */
interface ResourceKinds<T> {
  list(organizationId: string, page: PageRequest): Promise<T[]>;
  count(organizationId: string): Promise<number>;
  /** Index-backed `eq` lookups, by lower-cased attribute name. */
  lookups: Record<string, (organizationId: string, value: string) => Promise<T | undefined>>;
  render(organizationId: string, rows: readonly T[]): Promise<unknown[]>;
}

const CORE_SCHEMA = /^urn:ietf:params:scim:schemas:core:2\.0:(user|group)$/i;

/** The store lookup that answers `filter` exactly, when it is `<indexed attribute> eq "<string>"`. */
function indexedLookup<T>(
  filter: Filter,
  kind: ResourceKinds<T>,
): ((organizationId: string) => Promise<T | undefined>) | undefined {
  if (filter.op !== 'eq' || typeof filter.value !== 'string' || filter.path.subAttribute !== undefined)
    return undefined;
  if (filter.path.schema !== undefined && !CORE_SCHEMA.test(filter.path.schema)) return undefined;
  const find = kind.lookups[filter.path.attribute.toLowerCase()];
  const value = filter.value;
  return find && ((organizationId) => find(organizationId, value));
}

/** `meta.created` and `meta.lastModified` from a resource's version (milliseconds, as SCIM clients expect). */
function metaTimes(version: ResourceVersion | undefined): { created?: string; lastModified?: string } {
  if (!version) return {};
  const iso = (nanos: bigint) => `${formatNanos(nanos).slice(0, 23)}Z`;
  return {
    ...(version.createdAt !== undefined && { created: iso(version.createdAt) }),
    lastModified: iso(version.at),
  };
}

function versionOf(resource: unknown): string {
  return ((resource as { meta?: { version?: string } }).meta?.version ?? '') as string;
}

/** `attributes` / `excludedAttributes`: top-level names, case-insensitive; `id`, `schemas` and `meta` always stay. */
function project(resources: readonly unknown[], url: URL): unknown[] {
  const names = (param: string) =>
    url.searchParams
      .get(param)
      ?.split(',')
      .map(
        (n) =>
          n
            .trim()
            .toLowerCase()
            .replace(/^urn:ietf:params:scim:schemas:core:2\.0:(user|group):/, '')
            .split('.')[0],
      )
      .filter((n): n is string => !!n);
  const only = names('attributes');
  const without = names('excludedAttributes');
  const always = new Set(['id', 'schemas', 'meta']);
  return resources.map((resource) => {
    if (!only && !without) return resource;
    const entries = Object.entries(resource as Record<string, unknown>).filter(([key]) => {
      const k = key.toLowerCase();
      if (always.has(k)) return true;
      if (only) return only.includes(k);
      return !without?.includes(k);
    });
    return Object.fromEntries(entries);
  });
}

/** `sortBy` / `sortOrder` (RFC 7644 §3.4.2.3), over rendered resources, before paging. */
function sortResources(resources: readonly unknown[], url: URL): unknown[] {
  const sortBy = url.searchParams.get('sortBy');
  if (!sortBy) return [...resources];
  const descending = url.searchParams.get('sortOrder')?.toLowerCase() === 'descending';
  const key = (resource: unknown) => {
    let value: unknown = resource;
    for (const part of sortBy.split('.')) {
      const record = value as Record<string, unknown> | undefined;
      const found = record && Object.keys(record).find((k) => k.toLowerCase() === part.toLowerCase());
      value = found === undefined ? undefined : record?.[found];
    }
    return typeof value === 'string' ? value.toLowerCase() : value === undefined ? '' : String(value);
  };
  return [...resources].sort((a, b) => {
    const [x, y] = [key(a), key(b)];
    return (x < y ? -1 : x > y ? 1 : 0) * (descending ? -1 : 1);
  });
}

function listResponse(resources: readonly unknown[], startIndex: number, totalResults: number) {
  return {
    schemas: [SCHEMAS.listResponse],
    totalResults,
    itemsPerPage: resources.length,
    startIndex,
    Resources: resources,
  };
}
