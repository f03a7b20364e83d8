/**
 * SCIM User and Group resources ↔ the normalized model. A SCIM write becomes a `DirectoryUser` or
 * `DirectoryGroup` that goes through the same engine as a Scalekit event; a SCIM read renders what
 * the mirror holds.
 *
 * The resource as the identity provider sent it is kept whole in `attributes.scim` (minus `id`,
 * `meta`, `schemas`, the read-only `groups`, and `active`, which the model holds), so a GET answers every attribute Okta or Entra wrote,
 * extensions included. The normalized fields are derived from it: `userName`, `externalId`, `active`,
 * the primary (else work, else first) email, `name.givenName`/`familyName`, a display name, and
 * role values, so handlers see SCIM users exactly like Scalekit ones.
 */
import type { DirectoryGroup, DirectoryUser, GroupRef } from '../model.js';
import { userNameKey } from '../store/user-name.js';
import { SCHEMAS } from './discovery.js';
import { ScimError } from './errors.js';
import { DEFAULT_SCIM_LIMITS, type ScimLimits } from './limits.js';
import { builtInSchemas, type ResourceSchema, sanitizeResource } from './schema.js';

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Not kept in `attributes.scim`: read-only ones; `password`, which is write-only and which Okta
 * sends on create (never stored, never answered); and `active`, which the model holds itself (kept
 * twice, a deactivation would also count as a change of `attributes` and call `userUpdated`).
 */
const NOT_STORED_USER_KEYS = new Set(['id', 'meta', 'groups', 'active', 'password']);

/** The schema and limits a resource is read with. Default: the built-in schemas and `DEFAULT_SCIM_LIMITS`. */
export interface ResourceOptions {
  readonly schema?: ResourceSchema;
  readonly limits?: ScimLimits;
}

/** A body's declared attributes, checked (a 400 for a value of the wrong type or length). */
function readBody(body: unknown, kind: 'User' | 'Group', options: ResourceOptions): JsonObject {
  if (!isObject(body)) throw new ScimError(400, 'invalidSyntax', `A ${kind} is a JSON object.`);
  const schema = options.schema ?? (kind === 'User' ? builtInSchemas().user : builtInSchemas().group);
  const limits = options.limits ?? DEFAULT_SCIM_LIMITS;
  return sanitizeResource(schema, body, { limits, mode: 'input', identifiers: schema.identifiers });
}

/** Refuses a resource whose stored JSON would exceed `maxResourceBytes` (413). */
function assertStoredSize(stored: unknown, kind: string, limits: ScimLimits): void {
  const bytes = Buffer.byteLength(JSON.stringify(stored));
  if (bytes > limits.maxResourceBytes) {
    throw new ScimError(
      413,
      undefined,
      `The ${kind} would be ${bytes} bytes stored; the limit is ${limits.maxResourceBytes}.`,
    );
  }
}

/** The email a user is known by: the primary one, else the work one, else the first. */
function primaryEmail(emails: unknown): string | undefined {
  if (!Array.isArray(emails)) return undefined;
  const values = emails.filter(isObject);
  const pick = values.find((e) => e.primary === true) ?? values.find((e) => e.type === 'work') ?? values[0];
  return typeof pick?.value === 'string' ? pick.value : undefined;
}

export interface UserInput {
  readonly organizationId: string;
  readonly id: string;
  /** The user's current groups (SCIM sets memberships through Groups, never through the user). */
  readonly groups: readonly GroupRef[];
}

/**
 * A SCIM User body (POST or PUT) as the normalized user: only declared attributes are read and
 * kept. Throws `ScimError`s for invalid input, before anything is written.
 */
export function userFromScim(body: unknown, input: UserInput, options: ResourceOptions = {}): DirectoryUser {
  const limits = options.limits ?? DEFAULT_SCIM_LIMITS;
  const resource = readBody(body, 'User', options);
  const userName = resource.userName;
  if (typeof userName !== 'string' || userName.trim() === '') {
    throw new ScimError(400, 'invalidValue', '"userName" is required.');
  }
  if (userNameKey(userName).length > limits.maxIdentifierLength) {
    throw new ScimError(
      400,
      'invalidValue',
      `"userName" is longer than ${limits.maxIdentifierLength} characters once normalized.`,
    );
  }
  const scim: JsonObject = {};
  for (const [key, value] of Object.entries(resource))
    if (!NOT_STORED_USER_KEYS.has(key.toLowerCase())) scim[key] = value;
  assertStoredSize(scim, 'User', limits);
  const name = isObject(resource.name) ? resource.name : {};
  const roles = Array.isArray(resource.roles)
    ? resource.roles
        .map((r) => (isObject(r) ? r.value : undefined))
        .filter((r): r is string => typeof r === 'string' && r !== '')
    : [];
  const user: DirectoryUser = {
    id: input.id,
    organizationId: input.organizationId,
    userName,
    active: typeof resource.active === 'boolean' ? resource.active : true,
    groups: [...input.groups],
    roles: [...new Set(roles)].sort(),
    attributes: { scim },
    customAttributes: {},
    origin: 'scim',
  };
  const text = (value: unknown) => (typeof value === 'string' && value !== '' ? value : undefined);
  const set = (key: 'externalId' | 'email' | 'name' | 'givenName' | 'familyName', value: string | undefined) => {
    if (value !== undefined) user[key] = value;
  };
  set('externalId', text(resource.externalId));
  set('email', text(primaryEmail(resource.emails)));
  set('name', text(resource.displayName) ?? text(name.formatted));
  set('givenName', text(name.givenName));
  set('familyName', text(name.familyName));
  return user;
}

export interface ResourceMeta {
  /** The SCIM base URL (`https://app.example.com/scim/v2`). */
  readonly baseUrl: string;
  readonly created?: string;
  readonly lastModified?: string;
  /** An opaque version; rendered as a weak ETag. */
  readonly version: string;
}

const etag = (version: string) => `W/"${version}"`;

function withoutUnstored(resource: JsonObject): JsonObject {
  for (const key of NOT_STORED_USER_KEYS) delete resource[key];
  return resource;
}

/**
 * `value` without empty arrays and empty objects, at any depth: RFC 7643 §2.5 has an attribute
 * without values unassigned, so `"roles": []` (which Entra sends on create) is answered by leaving
 * `roles` out, and an extension left with nothing is not echoed (nor its URN in `schemas`).
 */
function withoutEmpty(value: unknown): unknown {
  if (Array.isArray(value)) {
    const items = value.map(withoutEmpty).filter((item) => item !== undefined);
    return items.length > 0 ? items : undefined;
  }
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const key of Object.keys(value)) {
    const item = withoutEmpty(value[key]);
    if (item !== undefined) out[key] = item;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * The stored SCIM attributes as the schema renders them, remembered per server options for stored
 * objects that cannot change (the memory store hands out frozen snapshots, so a user read again is
 * not sanitized again). Frozen itself, since every answer of that user shares it.
 */
const renderedStored = new WeakMap<ResourceOptions, WeakMap<JsonObject, JsonObject>>();

function storedAttributes(stored: JsonObject, schema: ResourceSchema, options: ResourceOptions): JsonObject {
  const cacheable = options.schema !== undefined && Object.isFrozen(stored);
  let cache = cacheable ? renderedStored.get(options) : undefined;
  if (cacheable && !cache) {
    cache = new WeakMap();
    renderedStored.set(options, cache);
  }
  const known = cache?.get(stored);
  if (known) return known;
  // What a store holds is rendered through the schema too: an attribute it does not declare (written
  // by an older version, or by hand) is never answered, and never reaches a filter or a PATCH.
  const sanitized = withoutUnstored(
    sanitizeResource(schema, stored, {
      limits: options.limits ?? DEFAULT_SCIM_LIMITS,
      mode: 'stored',
      identifiers: schema.identifiers,
    }),
  );
  const base = (withoutEmpty(sanitized) ?? {}) as JsonObject;
  if (cache) cache.set(stored, deepFreeze(base));
  return base;
}

export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

/** The mirror's user as a SCIM User: what the IdP wrote, or (for a Scalekit user) what the model holds. */
export function userToScim(user: DirectoryUser, meta: ResourceMeta, options: ResourceOptions = {}): JsonObject {
  const schema = options.schema ?? builtInSchemas().user;
  const stored =
    Object.hasOwn(user.attributes, 'scim') && isObject(user.attributes.scim) ? user.attributes.scim : undefined;
  const base = stored
    ? storedAttributes(stored, schema, options)
    : ((withoutEmpty({
        userName: user.userName ?? user.email ?? user.id,
        ...(user.name !== undefined && { displayName: user.name }),
        ...((user.givenName ?? user.familyName) !== undefined && {
          name: {
            ...(user.givenName !== undefined && { givenName: user.givenName }),
            ...(user.familyName !== undefined && { familyName: user.familyName }),
          },
        }),
        ...(user.email !== undefined && { emails: [{ value: user.email, type: 'work', primary: true }] }),
        ...(user.roles.length > 0 && { roles: user.roles.map((value) => ({ value })) }),
      }) ?? {}) as JsonObject);
  const extensions = [...schema.extensions.values()].map((e) => e.urn).filter((urn) => Object.hasOwn(base, urn));
  return {
    schemas: [SCHEMAS.user, ...extensions],
    id: user.id,
    ...(user.externalId !== undefined && { externalId: user.externalId }),
    ...base,
    active: user.active,
    ...(user.groups.length > 0 && {
      groups: user.groups.map((g) => ({
        value: g.id,
        $ref: `${meta.baseUrl}/Groups/${g.id}`,
        ...(g.name !== undefined && { display: g.name }),
      })),
    }),
    meta: {
      resourceType: 'User',
      ...(meta.created !== undefined && { created: meta.created }),
      ...(meta.lastModified !== undefined && { lastModified: meta.lastModified }),
      location: `${meta.baseUrl}/Users/${user.id}`,
      version: etag(meta.version),
    },
  };
}

/** A SCIM Group body as the normalized group and its member ids: only declared attributes are read. */
export function groupFromScim(
  body: unknown,
  input: { organizationId: string; id: string },
  options: ResourceOptions = {},
): { group: DirectoryGroup; memberIds: string[] } {
  const limits = options.limits ?? DEFAULT_SCIM_LIMITS;
  const resource = readBody(body, 'Group', options);
  const displayName = resource.displayName;
  if (typeof displayName !== 'string' || displayName.trim() === '') {
    throw new ScimError(400, 'invalidValue', '"displayName" is required.');
  }
  const members = Array.isArray(resource.members) ? resource.members : [];
  const memberIds = members.map((m) => {
    const value = isObject(m) ? m.value : undefined;
    if (typeof value !== 'string' || value === '')
      throw new ScimError(400, 'invalidValue', 'Each member needs a "value".');
    return value;
  });
  const group: DirectoryGroup = { id: input.id, organizationId: input.organizationId, displayName, origin: 'scim' };
  if (typeof resource.externalId === 'string' && resource.externalId !== '') group.externalId = resource.externalId;
  assertStoredSize(group, 'Group', limits);
  return { group, memberIds: [...new Set(memberIds)] };
}

export function groupToScim(
  group: DirectoryGroup,
  members: readonly { id: string; display?: string }[],
  meta: ResourceMeta,
): JsonObject {
  return {
    schemas: [SCHEMAS.group],
    id: group.id,
    ...(group.externalId !== undefined && { externalId: group.externalId }),
    displayName: group.displayName,
    // A group without members has no `members` key (RFC 7643 §2.5: no empty multi-valued attribute).
    ...(members.length > 0 && {
      members: members.map((m) => ({
        value: m.id,
        $ref: `${meta.baseUrl}/Users/${m.id}`,
        // RFC 7643 §4.2: "User" or "Group"; members are users.
        type: 'User',
        ...(m.display !== undefined && { display: m.display }),
      })),
    }),
    meta: {
      resourceType: 'Group',
      ...(meta.created !== undefined && { created: meta.created }),
      ...(meta.lastModified !== undefined && { lastModified: meta.lastModified }),
      location: `${meta.baseUrl}/Groups/${group.id}`,
      version: etag(meta.version),
    },
  };
}
