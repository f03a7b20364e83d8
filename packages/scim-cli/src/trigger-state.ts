/**
 * The state file of `scim-sync trigger` (default `.scim-sync/trigger-state.json`): per organization,
 * its directory, the users and groups trigger has sent and the newest `occurred_at`, so that the next
 * trigger names the same ids and sends a newer event.
 *
 * The file is the CLI's own, but it sits in a working directory and is read as untrusted input: a
 * size cap, no FIFO or directory, strict shapes, and no `__proto__`, `constructor` or `prototype` key
 * anywhere. Everything read lands in `Map`s, never in objects indexed by the file's keys. It is
 * written whole to a temporary file (mode 0600) that is then renamed over it, so a crash or a full
 * disk leaves the previous file, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { MAX_IDENTIFIER_LENGTH, parseRfc3339Nanos, type ScalekitDirectoryEvent } from '@org/scim-core';
import { UsageError } from './errors.js';

export const DEFAULT_STATE_FILE = '.scim-sync/trigger-state.json';

const VERSION = 1;
/** Far more than anyone triggers by hand (a user is about 400 bytes), and a bound on what is parsed. */
const MAX_STATE_BYTES = 16 * 1024 * 1024;
/** 10000-01-01T00:00:00Z: no later instant formats as RFC 3339. */
const MAX_NANOS = 253_402_300_800n * 1_000_000_000n;
/** Deepest attribute value remembered: well inside the 32 levels a webhook receiver accepts. */
const MAX_ATTRIBUTE_DEPTH = 24;
/** Largest attribute value remembered, as JSON; a larger one is sent but not remembered. */
const MAX_ATTRIBUTE_JSON = 64 * 1024;

/** The fields of a user's `data` that a record keeps as its own; every other one is an attribute. */
const USER_FIELDS: ReadonlySet<string> = new Set(['id', 'organization_id', 'email', 'active', 'groups']);
/** The same for a group's `data`. */
const GROUP_FIELDS: ReadonlySet<string> = new Set([
  'id',
  'organization_id',
  'directory_id',
  'display_name',
  'external_id',
]);

/** A user's group as the user's snapshot lists it. */
export interface GroupRef {
  id: string;
  name?: string;
}

/** A user as trigger last sent it: each event is a full snapshot, and the next one starts from this. */
export interface UserRecord {
  id: string;
  email?: string;
  active: boolean;
  groups: GroupRef[];
  /**
   * Every other field of `data` as last sent, by Scalekit's name (`preferred_username`, `name`,
   * `given_name`, `dp_id`, `title`, `custom_attributes`, …).
   */
  attributes: Map<string, unknown>;
  occurredAt: string;
}

/** A group as trigger last sent it (or first named it, in a user's groups). */
export interface GroupRecord {
  id: string;
  displayName?: string;
  externalId?: string;
  /** Every other field of `data` as last sent (`raw_attributes`, …). */
  attributes: Map<string, unknown>;
  occurredAt: string;
}

export interface OrganizationState {
  id: string;
  directoryId: string;
  /** The newest `occurred_at` sent to this organization. */
  occurredAt?: string;
  /** The user and group of the last user and group event: what `user_updated` alone means. */
  lastUserId?: string;
  lastGroupId?: string;
  users: Map<string, UserRecord>;
  groups: Map<string, GroupRecord>;
}

export interface TriggerState {
  /** The organization of the last trigger: the default for the next one. */
  organizationId?: string;
  organizations: Map<string, OrganizationState>;
}

export const emptyState = (): TriggerState => ({ organizations: new Map() });

export const newOrganization = (id: string, directoryId: string): OrganizationState => ({
  id,
  directoryId,
  users: new Map(),
  groups: new Map(),
});

/** What makes the file unusable: its message completes "the state file <path> …". */
class StateProblem extends Error {}

/** A part of the file that is not what trigger writes there. */
const shape = (detail: string) => new StateProblem(`is not a state file trigger wrote: ${detail}`);

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** A key or value from the file, short and quoted, for a message. */
const quote = (text: string) => JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}…` : text);

type JsonObject = Readonly<Record<string, unknown>>;

function objectAt(value: unknown, at: string, keys: readonly string[]): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw shape(`${at} is not an object`);
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) throw shape(`${at} has an unknown key ${quote(key)}`);
  }
  return value as JsonObject;
}

/** Only own keys: a missing key must not find `Object.prototype`'s. */
const own = (object: JsonObject, key: string): unknown => (Object.hasOwn(object, key) ? object[key] : undefined);

function arrayAt(value: unknown, at: string): readonly unknown[] {
  if (!Array.isArray(value)) throw shape(`${at} is not an array`);
  return value;
}

function identifierAt(value: unknown, at: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_IDENTIFIER_LENGTH) {
    throw shape(`${at} is not a string of 1 to ${MAX_IDENTIFIER_LENGTH} characters`);
  }
  return value;
}

function optional<T>(value: unknown, at: string, read: (value: unknown, at: string) => T): T | undefined {
  return value === undefined ? undefined : read(value, at);
}

function timestampAt(value: unknown, at: string): string {
  const nanos = typeof value === 'string' ? parseRfc3339Nanos(value) : undefined;
  if (nanos === undefined || nanos < 0n || nanos >= MAX_NANOS) {
    throw shape(`${at} is not an RFC 3339 date-time between 1970 and 9999`);
  }
  return value as string;
}

/** Reads `items` into a Map by id, refusing an id seen twice. */
function byId<T extends { id: string }>(items: readonly unknown[], at: string, read: (item: unknown, at: string) => T) {
  const map = new Map<string, T>();
  items.forEach((item, index) => {
    const record = read(item, `${at}[${index}]`);
    if (map.has(record.id)) throw shape(`${at}[${index}].id ${quote(record.id)} appears twice`);
    map.set(record.id, record);
  });
  return map;
}

function groupRefAt(value: unknown, at: string): GroupRef {
  const object = objectAt(value, at, ['id', 'name']);
  const name = optional(own(object, 'name'), `${at}.name`, identifierAt);
  return { id: identifierAt(own(object, 'id'), `${at}.id`), ...(name !== undefined && { name }) };
}

/** Whether `value` nests at most `levels` deep (a scalar is 0). Stops at the limit, so it never recurses further. */
function nestsWithin(value: unknown, levels: number): boolean {
  if (typeof value !== 'object' || value === null) return true;
  if (levels === 0) return false;
  return Object.values(value).every((item) => nestsWithin(item, levels - 1));
}

/** Whether an attribute value is small and shallow enough to remember (and so to read back). */
const rememberable = (value: unknown) =>
  value !== undefined && nestsWithin(value, MAX_ATTRIBUTE_DEPTH) && JSON.stringify(value).length <= MAX_ATTRIBUTE_JSON;

function attributesAt(value: unknown, at: string, fields: ReadonlySet<string>): Map<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw shape(`${at} is not an object`);
  const attributes = new Map<string, unknown>();
  for (const [key, item] of Object.entries(value)) {
    if (key.length === 0 || key.length > MAX_IDENTIFIER_LENGTH || fields.has(key)) {
      throw shape(`${at} has the key ${quote(key)}, which is not an attribute`);
    }
    if (!rememberable(item)) {
      throw shape(`${at}.${key} is deeper than ${MAX_ATTRIBUTE_DEPTH} levels or over ${MAX_ATTRIBUTE_JSON} bytes`);
    }
    attributes.set(key, item);
  }
  return attributes;
}

function userAt(value: unknown, at: string): UserRecord {
  const object = objectAt(value, at, ['id', 'email', 'active', 'groups', 'attributes', 'occurredAt']);
  const active = own(object, 'active');
  if (typeof active !== 'boolean') throw shape(`${at}.active is not true or false`);
  return withoutUndefined({
    id: identifierAt(own(object, 'id'), `${at}.id`),
    email: optional(own(object, 'email'), `${at}.email`, identifierAt),
    active,
    groups: arrayAt(own(object, 'groups'), `${at}.groups`).map((g, i) => groupRefAt(g, `${at}.groups[${i}]`)),
    attributes: attributesAt(own(object, 'attributes'), `${at}.attributes`, USER_FIELDS),
    occurredAt: timestampAt(own(object, 'occurredAt'), `${at}.occurredAt`),
  });
}

function groupAt(value: unknown, at: string): GroupRecord {
  const object = objectAt(value, at, ['id', 'displayName', 'externalId', 'attributes', 'occurredAt']);
  return withoutUndefined({
    id: identifierAt(own(object, 'id'), `${at}.id`),
    displayName: optional(own(object, 'displayName'), `${at}.displayName`, identifierAt),
    externalId: optional(own(object, 'externalId'), `${at}.externalId`, identifierAt),
    attributes: attributesAt(own(object, 'attributes'), `${at}.attributes`, GROUP_FIELDS),
    occurredAt: timestampAt(own(object, 'occurredAt'), `${at}.occurredAt`),
  });
}

function organizationAt(value: unknown, at: string): OrganizationState {
  const object = objectAt(value, at, [
    'id',
    'directoryId',
    'occurredAt',
    'lastUserId',
    'lastGroupId',
    'users',
    'groups',
  ]);
  return withoutUndefined({
    id: identifierAt(own(object, 'id'), `${at}.id`),
    directoryId: identifierAt(own(object, 'directoryId'), `${at}.directoryId`),
    occurredAt: optional(own(object, 'occurredAt'), `${at}.occurredAt`, timestampAt),
    lastUserId: optional(own(object, 'lastUserId'), `${at}.lastUserId`, identifierAt),
    lastGroupId: optional(own(object, 'lastGroupId'), `${at}.lastGroupId`, identifierAt),
    users: byId(arrayAt(own(object, 'users'), `${at}.users`), `${at}.users`, userAt),
    groups: byId(arrayAt(own(object, 'groups'), `${at}.groups`), `${at}.groups`, groupAt),
  });
}

function stateOf(json: unknown): TriggerState {
  const root = objectAt(json, 'the top level', ['version', 'organizationId', 'organizations']);
  const version = own(root, 'version');
  if (version !== VERSION) {
    const given = version === undefined ? 'no version' : `version ${quote(JSON.stringify(version))}`;
    throw new StateProblem(`has ${given}; this scim-sync reads version ${VERSION}`);
  }
  const organizationId = optional(own(root, 'organizationId'), 'organizationId', identifierAt);
  const organizations = byId(arrayAt(own(root, 'organizations'), 'organizations'), 'organizations', organizationAt);
  return { ...(organizationId !== undefined && { organizationId }), organizations };
}

/** The file's text: a regular file of at most `MAX_STATE_BYTES` in UTF-8, or `undefined` when there is none. */
async function readStateText(path: string): Promise<string | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    // Non-blocking: opening a FIFO someone put there must not hang the command.
    handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined;
    throw new StateProblem(`cannot be opened (${(error as Error).message})`);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new StateProblem('is not a regular file');
    if (info.size > MAX_STATE_BYTES) {
      throw new StateProblem(`is ${info.size} bytes, over the ${MAX_STATE_BYTES}-byte limit`);
    }
    const bytes = await handle.readFile();
    if (bytes.byteLength > MAX_STATE_BYTES) throw new StateProblem(`is over the ${MAX_STATE_BYTES}-byte limit`);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      throw new StateProblem('is not UTF-8 text');
    }
  } finally {
    await handle.close();
  }
}

const unusable = (shown: string, problem: string) =>
  new UsageError(
    `the state file ${shown} ${problem}. It only remembers the ids trigger sent: delete it to start ` +
      'afresh, or pass --state <another file>, or --no-state to keep none.',
    'trigger',
  );

/**
 * Reads the state file at `path` (`shown` is how messages name it), or `undefined` when there is none.
 * Anything else that is not a state file this version wrote is a `UsageError` that says so.
 */
export async function loadState(path: string, shown: string): Promise<TriggerState | undefined> {
  try {
    const text = await readStateText(path);
    if (text === undefined) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(text, (key, value) => {
        if (FORBIDDEN_KEYS.has(key)) throw new StateProblem(`holds a ${quote(key)} key, which no state file has`);
        return value;
      });
    } catch (error) {
      if (error instanceof StateProblem) throw error;
      throw new StateProblem(`is not valid JSON (${(error as Error).message})`);
    }
    return stateOf(json);
  } catch (error) {
    if (error instanceof StateProblem) throw unusable(shown, error.message);
    throw error;
  }
}

/** The file's JSON: arrays of records, so no key of it is ever an id. */
function serialize(state: TriggerState) {
  return {
    version: VERSION,
    organizationId: state.organizationId,
    organizations: [...state.organizations.values()].map((org) => ({
      id: org.id,
      directoryId: org.directoryId,
      occurredAt: org.occurredAt,
      lastUserId: org.lastUserId,
      lastGroupId: org.lastGroupId,
      users: [...org.users.values()].map(({ attributes, ...user }) => ({
        ...user,
        attributes: Object.fromEntries(attributes),
      })),
      groups: [...org.groups.values()].map(({ attributes, ...group }) => ({
        ...group,
        attributes: Object.fromEntries(attributes),
      })),
    })),
  };
}

/** Writes the state to `path` atomically (a temporary file renamed over it), mode 0600, creating its folder (0700). */
export async function saveState(path: string, shown: string, state: TriggerState): Promise<void> {
  const text = `${JSON.stringify(serialize(state), null, 2)}\n`;
  const folder = dirname(path);
  const temporary = join(folder, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await mkdir(folder, { recursive: true, mode: 0o700 });
    const handle = await open(temporary, 'wx', 0o600);
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw new UsageError(
      `the state file ${shown} could not be written (${(error as Error).message}). Pass --state <another file>, ` +
        'or --no-state to keep none.',
      'trigger',
    );
  }
}

function withoutUndefined<T extends object>(record: T): T {
  for (const key of Object.keys(record) as (keyof T)[]) if (record[key] === undefined) delete record[key];
  return record;
}

/** The fields of `data` other than `fields` that can be remembered. */
function attributesOf(data: Readonly<Record<string, unknown>>, fields: ReadonlySet<string>): Map<string, unknown> {
  const attributes = new Map<string, unknown>();
  for (const [key, value] of Object.entries(data))
    if (!fields.has(key) && rememberable(value)) attributes.set(key, value);
  return attributes;
}

const laterOf = (a: string | undefined, b: string) =>
  a !== undefined && (parseRfc3339Nanos(a) ?? 0n) > (parseRfc3339Nanos(b) ?? 0n) ? a : b;

/**
 * Remembers what `event` (sent to `org`, and matching Scalekit's schema) told the app: the user or
 * group as sent, the directory, and its `occurred_at`. Deletions forget, as the engine does.
 */
export function recordEvent(org: OrganizationState, event: ScalekitDirectoryEvent): void {
  const at = event.occurred_at;
  switch (event.type) {
    case 'organization.directory.user_created':
    case 'organization.directory.user_updated': {
      const data = event.data;
      const groups = (data.groups ?? []).map((group) =>
        withoutUndefined<GroupRef>({ id: group.id, name: group.name ?? undefined }),
      );
      org.users.set(
        data.id,
        withoutUndefined<UserRecord>({
          id: data.id,
          email: data.email ?? undefined,
          active: data.active ?? true,
          groups,
          attributes: attributesOf(data, USER_FIELDS),
          occurredAt: at,
        }),
      );
      for (const group of groups) {
        if (!org.groups.has(group.id)) {
          org.groups.set(
            group.id,
            withoutUndefined<GroupRecord>({
              id: group.id,
              displayName: group.name,
              attributes: new Map(),
              occurredAt: at,
            }),
          );
        }
      }
      org.lastUserId = data.id;
      break;
    }
    case 'organization.directory.user_deleted':
      org.users.delete(event.data.id);
      if (org.lastUserId === event.data.id) delete org.lastUserId;
      break;
    case 'organization.directory.group_created':
    case 'organization.directory.group_updated': {
      const data = event.data;
      const displayName = data.display_name ?? undefined;
      org.groups.set(
        data.id,
        withoutUndefined<GroupRecord>({
          id: data.id,
          displayName,
          externalId: data.external_id ?? undefined,
          attributes: attributesOf(data, GROUP_FIELDS),
          occurredAt: at,
        }),
      );
      // The users' next snapshots carry the group's new name, as Scalekit's would.
      for (const user of org.users.values()) {
        user.groups = user.groups.map((group) =>
          group.id === data.id ? withoutUndefined<GroupRef>({ id: group.id, name: displayName }) : group,
        );
      }
      org.lastGroupId = data.id;
      break;
    }
    case 'organization.directory.group_deleted':
      org.groups.delete(event.data.id);
      for (const user of org.users.values()) user.groups = user.groups.filter((group) => group.id !== event.data.id);
      if (org.lastGroupId === event.data.id) delete org.lastGroupId;
      break;
    case 'organization.directory_enabled':
    case 'organization.directory_disabled':
      org.directoryId = event.data.id;
      break;
  }
  org.occurredAt = laterOf(org.occurredAt, at);
}

/** Advances the organization's newest `occurred_at` for an event that is not remembered (it broke the schema). */
export function recordTime(org: OrganizationState, occurredAt: string): void {
  org.occurredAt = laterOf(org.occurredAt, occurredAt);
}
