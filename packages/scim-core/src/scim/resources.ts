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
import { SCHEMAS } from './discovery.js';
import { ScimError } from './errors.js';

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Not kept in `attributes.scim`: read-only ones; `password`, which is write-only and which Okta
 * sends on create (never stored, never answered); and `active`, which the model holds itself (kept
 * twice, a deactivation would also count as a change of `attributes` and call `userUpdated`).
 */
const NOT_STORED_USER_KEYS = new Set(['id', 'meta', 'schemas', 'groups', 'active', 'password']);

function text(value: unknown, attribute: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new ScimError(400, 'invalidValue', `"${attribute}" must be a string.`);
  return value;
}

function bool(value: unknown, attribute: string): boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  // Entra sends "True"/"False".
  if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  throw new ScimError(400, 'invalidValue', `"${attribute}" must be a boolean.`);
}

/** The email a user is known by: the primary one, else the work one, else the first. */
function primaryEmail(emails: unknown): string | undefined {
  if (!Array.isArray(emails)) return undefined;
  const values = emails.filter(isObject);
  const pick =
    values.find((e) => bool(e.primary, 'emails.primary')) ?? values.find((e) => e.type === 'work') ?? values[0];
  return pick ? text(pick.value, 'emails.value') : undefined;
}

export interface UserInput {
  readonly organizationId: string;
  readonly id: string;
  /** The user's current groups (SCIM sets memberships through Groups, never through the user). */
  readonly groups: readonly GroupRef[];
}

/** A SCIM User body (POST or PUT) as the normalized user. Throws `ScimError`s for invalid input. */
export function userFromScim(body: unknown, input: UserInput): DirectoryUser {
  if (!isObject(body)) throw new ScimError(400, 'invalidSyntax', 'A User is a JSON object.');
  const userName = text(body.userName ?? body.username, 'userName');
  if (!userName) throw new ScimError(400, 'invalidValue', '"userName" is required.');
  const scim: JsonObject = {};
  for (const [key, value] of Object.entries(body)) if (!NOT_STORED_USER_KEYS.has(key.toLowerCase())) scim[key] = value;
  const name = isObject(body.name) ? body.name : {};
  const roles = Array.isArray(body.roles)
    ? body.roles
        .map((r) => (isObject(r) ? text(r.value, 'roles.value') : text(r, 'roles')))
        .filter((r): r is string => !!r)
    : [];
  const user: DirectoryUser = {
    id: input.id,
    organizationId: input.organizationId,
    userName,
    active: bool(body.active, 'active') ?? true,
    groups: [...input.groups],
    roles: [...new Set(roles)].sort(),
    attributes: { scim },
    customAttributes: {},
  };
  const set = (key: 'externalId' | 'email' | 'name' | 'givenName' | 'familyName', value: string | undefined) => {
    if (value !== undefined && value !== '') user[key] = value;
  };
  set('externalId', text(body.externalId, 'externalId'));
  set('email', primaryEmail(body.emails));
  set('name', text(body.displayName, 'displayName') ?? text(name.formatted, 'name.formatted'));
  set('givenName', text(name.givenName, 'name.givenName'));
  set('familyName', text(name.familyName, 'name.familyName'));
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

/** The mirror's user as a SCIM User: what the IdP wrote, or (for a Scalekit user) what the model holds. */
export function userToScim(user: DirectoryUser, meta: ResourceMeta): JsonObject {
  const stored = isObject(user.attributes.scim) ? user.attributes.scim : undefined;
  const base: JsonObject = stored
    ? { ...stored }
    : {
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
      };
  const extensions = Object.keys(base).filter((key) => key.startsWith('urn:'));
  return {
    schemas: [SCHEMAS.user, ...extensions],
    id: user.id,
    ...(user.externalId !== undefined && { externalId: user.externalId }),
    ...base,
    active: user.active,
    groups: user.groups.map((g) => ({
      value: g.id,
      $ref: `${meta.baseUrl}/Groups/${g.id}`,
      ...(g.name !== undefined && { display: g.name }),
    })),
    meta: {
      resourceType: 'User',
      ...(meta.created !== undefined && { created: meta.created }),
      ...(meta.lastModified !== undefined && { lastModified: meta.lastModified }),
      location: `${meta.baseUrl}/Users/${user.id}`,
      version: etag(meta.version),
    },
  };
}

/** A SCIM Group body as the normalized group and its member ids. */
export function groupFromScim(
  body: unknown,
  input: { organizationId: string; id: string },
): { group: DirectoryGroup; memberIds: string[] } {
  if (!isObject(body)) throw new ScimError(400, 'invalidSyntax', 'A Group is a JSON object.');
  const displayName = text(body.displayName, 'displayName');
  if (!displayName) throw new ScimError(400, 'invalidValue', '"displayName" is required.');
  const members = body.members === undefined || body.members === null ? [] : body.members;
  if (!Array.isArray(members)) throw new ScimError(400, 'invalidValue', '"members" must be an array.');
  const memberIds = members.map((m) => {
    const value = isObject(m) ? m.value : undefined;
    if (typeof value !== 'string' || value === '')
      throw new ScimError(400, 'invalidValue', 'Each member needs a "value".');
    return value;
  });
  const group: DirectoryGroup = { id: input.id, organizationId: input.organizationId, displayName };
  const externalId = text(body.externalId, 'externalId');
  if (externalId) group.externalId = externalId;
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
    members: members.map((m) => ({
      value: m.id,
      $ref: `${meta.baseUrl}/Users/${m.id}`,
      type: 'User',
      ...(m.display !== undefined && { display: m.display }),
    })),
    meta: {
      resourceType: 'Group',
      ...(meta.created !== undefined && { created: meta.created }),
      ...(meta.lastModified !== undefined && { lastModified: meta.lastModified }),
      location: `${meta.baseUrl}/Groups/${group.id}`,
      version: etag(meta.version),
    },
  };
}
