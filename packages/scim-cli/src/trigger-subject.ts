/**
 * Which user, group or directory one `scim-sync trigger` is about, and the event it sends for it:
 * the state file's record of it, found by id, e-mail or display name, or a new one with fresh ids in
 * Scalekit's shapes; built with `@org/scim-testing`'s factory, then given the `--data` overrides.
 */
import { randomInt } from 'node:crypto';
import {
  parseRfc3339Nanos,
  type ScalekitDeletedUser,
  type ScalekitDirectoryEventType,
  type ScalekitDirectoryGroup,
  type ScalekitDirectoryUser,
} from '@org/scim-core';
import { createEventFactory } from '@org/scim-testing';
import { UsageError } from './errors.js';
import { applyOverrides, type DataOverride, overrideOf, overridesTouch, shortNameOf } from './trigger-event.js';
import type { GroupRecord, GroupRef, OrganizationState, UserRecord } from './trigger-state.js';

/** Scalekit's ids are a prefix and 17 digits. */
export const scalekitId = (prefix: string) =>
  `${prefix}_${randomInt(10_000_000, 99_999_999)}${randomInt(100_000_000, 999_999_999)}`;

const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** An Okta-style identity-provider id: the user's `dp_id`, the group's `external_id`. */
const providerId = (prefix: '00u' | '00g') =>
  prefix + Array.from({ length: 17 }, () => ALPHANUMERIC[randomInt(ALPHANUMERIC.length)]).join('');

const DEFAULT_GROUP_NAME = 'Engineering';

/** What one trigger asks for, besides the event type. */
export interface TriggerRequest {
  type: ScalekitDirectoryEventType;
  /** The organization, with what the state file remembers of it (nothing with `--no-state`). */
  org: OrganizationState;
  /** `--user <id>`. */
  userId?: string | undefined;
  /** `--group <id>`. */
  groupId?: string | undefined;
  /** `--groups`: the user's groups, by id or display name; `undefined` keeps the ones it had. */
  groups?: readonly string[] | undefined;
  overrides: readonly DataOverride[];
  /** `--no-state`: nothing was remembered, which the notes say. */
  stateless: boolean;
}

/** The event as built: it matches Scalekit's schema unless an override broke it. */
export interface UncheckedEvent {
  id: string;
  type: ScalekitDirectoryEventType;
  occurred_at: string;
  data: Record<string, unknown>;
}

type UserTemplate = Omit<UserRecord, 'occurredAt'>;
type GroupTemplate = Omit<GroupRecord, 'occurredAt'>;

const isUserUpsert = (type: ScalekitDirectoryEventType) =>
  type === 'organization.directory.user_created' || type === 'organization.directory.user_updated';

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** The most recently sent of `records`. */
function latest<T extends { occurredAt: string }>(records: Iterable<T>): T | undefined {
  let found: T | undefined;
  let foundAt = -1n;
  for (const record of records) {
    const at = parseRfc3339Nanos(record.occurredAt) ?? 0n;
    if (at > foundAt) [found, foundAt] = [record, at];
  }
  return found;
}

function* matching<T>(records: Iterable<T>, test: (record: T) => boolean): Iterable<T> {
  for (const record of records) if (test(record)) yield record;
}

/** `first`, or the first of `numbered(2)`, `numbered(3)`, … that `taken` says is free. */
function unique(first: string, numbered: (n: number) => string, taken: (value: string) => boolean): string {
  if (!taken(first)) return first;
  for (let n = 2; ; n++) if (!taken(numbered(n))) return numbered(n);
}

/** A string the override gives for the top-level `key`, if it gives one. */
function givenString(overrides: readonly DataOverride[], key: string): string | undefined {
  const value = overrideOf(overrides, key)?.value;
  return typeof value === 'string' ? value : undefined;
}

/** The id `--user`/`--group` or `-d id=` gives; the two must agree. */
function givenId(flag: '--user' | '--group', fromFlag: string | undefined, overrides: readonly DataOverride[]) {
  const fromData = givenString(overrides, 'id');
  if (fromFlag !== undefined && fromData !== undefined && fromFlag !== fromData) {
    throw new UsageError(`${flag} ${fromFlag} and -d id=${fromData} name two different ones: give one.`, 'trigger');
  }
  return fromFlag ?? fromData;
}

function notSeen(request: TriggerRequest, what: string): string {
  const nowhere = request.stateless ? ' (--no-state remembers nothing)' : '';
  return `Note: no ${what} was sent to ${request.org.id} before${nowhere}; this ${shortNameOf(request.type)} names a new one.`;
}

function defaultGroup(org: OrganizationState): GroupRef {
  const known = latest(
    matching(org.groups.values(), (g) => g.displayName !== undefined && same(g.displayName, DEFAULT_GROUP_NAME)),
  );
  return known
    ? { id: known.id, name: known.displayName ?? DEFAULT_GROUP_NAME }
    : { id: scalekitId('dirgroup'), name: DEFAULT_GROUP_NAME };
}

function newUser(org: OrganizationState, id: string, email: string | undefined): UserTemplate {
  const emails = new Set([...org.users.values()].flatMap((user) => (user.email ? [user.email.toLowerCase()] : [])));
  const address =
    email ??
    unique(
      'ada.lovelace@example.com',
      (n) => `ada.lovelace+${n}@example.com`,
      (candidate) => emails.has(candidate),
    );
  return {
    id,
    email: address,
    active: true,
    groups: [defaultGroup(org)],
    attributes: new Map<string, unknown>([
      ['dp_id', providerId('00u')],
      ['preferred_username', address],
      ['name', 'Ada Lovelace'],
      ['given_name', 'Ada'],
      ['family_name', 'Lovelace'],
      ['department', 'Engineering'],
      ['title', 'Engineer'],
      ['address', { locality: 'London', country: 'GB' }],
      ['roles', [{ role_name: 'member' }]],
    ]),
  };
}

/** The user a user event is about: by id, else by e-mail, else the last one (or a new one for user_created). */
function userFor(request: TriggerRequest, notes: string[]): UserTemplate {
  const { org, overrides } = request;
  const id = givenId('--user', request.userId, overrides);
  const email = givenString(overrides, 'email');
  if (id !== undefined) return org.users.get(id) ?? newUser(org, id, email);
  if (email !== undefined) {
    const known = latest(matching(org.users.values(), (user) => user.email !== undefined && same(user.email, email)));
    if (known) return known;
    if (request.type !== 'organization.directory.user_created')
      notes.push(notSeen(request, `user with e-mail ${email}`));
    return newUser(org, scalekitId('diruser'), email);
  }
  if (request.type !== 'organization.directory.user_created') {
    const last = org.lastUserId === undefined ? undefined : org.users.get(org.lastUserId);
    if (last) return last;
    notes.push(notSeen(request, 'user'));
  }
  return newUser(org, scalekitId('diruser'), undefined);
}

/** `--groups` entries as the user's groups: a known id or display name, else a new group of that name. */
function groupsFrom(entries: readonly string[], org: OrganizationState): GroupRef[] {
  const chosen = new Map<string, GroupRef>();
  const created = new Map<string, GroupRef>();
  for (const entry of entries.flatMap((list) => list.split(',')).map((name) => name.trim())) {
    if (entry === '') continue;
    const known =
      org.groups.get(entry) ??
      latest(matching(org.groups.values(), (g) => g.displayName !== undefined && same(g.displayName, entry)));
    const ref = known
      ? { id: known.id, ...(known.displayName !== undefined && { name: known.displayName }) }
      : (created.get(entry.toLowerCase()) ?? { id: scalekitId('dirgroup'), name: entry });
    if (!known) created.set(entry.toLowerCase(), ref);
    chosen.set(ref.id, ref);
  }
  return [...chosen.values()];
}

function newGroup(org: OrganizationState, id: string, displayName: string | undefined): GroupTemplate {
  const names = new Set([...org.groups.values()].flatMap((g) => (g.displayName ? [g.displayName.toLowerCase()] : [])));
  return {
    id,
    displayName:
      displayName ??
      unique(
        DEFAULT_GROUP_NAME,
        (n) => `${DEFAULT_GROUP_NAME} ${n}`,
        (candidate) => names.has(candidate.toLowerCase()),
      ),
    externalId: providerId('00g'),
    attributes: new Map(),
  };
}

/** The group a group event is about: by id, else by display name, else the last one (or a new one for group_created). */
function groupFor(request: TriggerRequest, notes: string[]): GroupTemplate {
  const { org, overrides } = request;
  const id = givenId('--group', request.groupId, overrides);
  const name = givenString(overrides, 'display_name');
  if (id !== undefined) return org.groups.get(id) ?? newGroup(org, id, name);
  if (name !== undefined) {
    const known = latest(
      matching(org.groups.values(), (g) => g.displayName !== undefined && same(g.displayName, name)),
    );
    if (known) return known;
    if (request.type !== 'organization.directory.group_created') notes.push(notSeen(request, `group named ${name}`));
    return newGroup(org, scalekitId('dirgroup'), name);
  }
  if (request.type !== 'organization.directory.group_created') {
    const last = org.lastGroupId === undefined ? undefined : org.groups.get(org.lastGroupId);
    if (last) return last;
    notes.push(notSeen(request, 'group'));
  }
  return newGroup(org, scalekitId('dirgroup'), undefined);
}

/**
 * The remembered attributes as a plain object. `Object.fromEntries` defines each key as an own
 * property, so even a key the state file could hold never reaches a prototype.
 */
const attributesObject = (attributes: ReadonlyMap<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(attributes);

function userData(user: UserTemplate): Partial<ScalekitDirectoryUser> & { id: string } {
  return {
    ...attributesObject(user.attributes),
    id: user.id,
    email: user.email,
    active: user.active,
    groups: user.groups.map((group) => ({ id: group.id, name: group.name })),
  };
}

function deletedUserData(user: UserTemplate): Partial<ScalekitDeletedUser> & { id: string } {
  const dpId = user.attributes.get('dp_id');
  return { id: user.id, dp_id: typeof dpId === 'string' ? dpId : undefined, email: user.email };
}

function groupData(group: GroupTemplate, org: OrganizationState): Partial<ScalekitDirectoryGroup> & { id: string } {
  return {
    ...attributesObject(group.attributes),
    id: group.id,
    directory_id: org.directoryId,
    display_name: group.displayName,
    external_id: group.externalId,
  };
}

const fullName = (given: unknown, family: unknown) =>
  [given, family].filter((part) => typeof part === 'string' && part !== '').join(' ');

/**
 * What a directory changes along with what the overrides change: `preferred_username` follows a
 * new `email` when it was the e-mail, and `name` follows `given_name` and `family_name` when it was
 * made of them. An override of the field itself wins.
 */
function followRenames(
  data: Record<string, unknown>,
  base: Readonly<Record<string, unknown>>,
  overrides: readonly DataOverride[],
) {
  if (
    overridesTouch(overrides, 'email') &&
    !overridesTouch(overrides, 'preferred_username') &&
    typeof base.email === 'string' &&
    typeof base.preferred_username === 'string' &&
    same(base.preferred_username, base.email) &&
    typeof data.email === 'string'
  ) {
    data.preferred_username = data.email;
  }
  if (
    (overridesTouch(overrides, 'given_name') || overridesTouch(overrides, 'family_name')) &&
    !overridesTouch(overrides, 'name') &&
    base.name === fullName(base.given_name, base.family_name)
  ) {
    const name = fullName(data.given_name, data.family_name);
    if (name !== '') data.name = name;
  }
}

/** Drops `undefined` fields, so the body carries no `"key": undefined` a reader could trip on. */
function defined<T extends object>(data: T): T {
  return Object.fromEntries(Object.entries(data).filter(([, value]) => value !== undefined)) as T;
}

/**
 * The event `request` describes, stamped `occurredAt`, with the overrides applied (and the renames
 * that follow from them). `notes` says when an e-mail, a name or "the last one" found nothing remembered.
 */
export function composeEvent(request: TriggerRequest, occurredAt: string): { event: UncheckedEvent; notes: string[] } {
  const { type, org, overrides } = request;
  const notes: string[] = [];
  const factory = createEventFactory({ organizationId: org.id });
  const at = { occurredAt };
  let event: UncheckedEvent;
  switch (type) {
    case 'organization.directory.user_created':
    case 'organization.directory.user_updated': {
      const user = userFor(request, notes);
      const groups = request.groups === undefined ? user.groups : groupsFrom(request.groups, org);
      const data = defined(userData({ ...user, groups }));
      event =
        type === 'organization.directory.user_created' ? factory.userCreated(data, at) : factory.userUpdated(data, at);
      break;
    }
    case 'organization.directory.user_deleted':
      event = factory.userDeleted(defined(deletedUserData(userFor(request, notes))), at);
      break;
    case 'organization.directory.group_created':
      event = factory.groupCreated(defined(groupData(groupFor(request, notes), org)), at);
      break;
    case 'organization.directory.group_updated':
      event = factory.groupUpdated(defined(groupData(groupFor(request, notes), org)), at);
      break;
    case 'organization.directory.group_deleted':
      event = factory.groupDeleted(defined(groupData(groupFor(request, notes), org)), at);
      break;
    case 'organization.directory_enabled':
      event = factory.directoryEnabled({ id: org.directoryId }, at);
      break;
    case 'organization.directory_disabled':
      event = factory.directoryDisabled({ id: org.directoryId }, at);
      break;
  }
  const base = { ...event.data };
  applyOverrides(event.data, overrides);
  if (isUserUpsert(type)) followRenames(event.data, base, overrides);
  return { event, notes };
}
