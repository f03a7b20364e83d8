/**
 * What `scim-sync trigger` sends: a realistic Scalekit event of one of the eight directory types
 * (SCALEKIT.md §2), built with `@org/scim-testing`'s factory, with `--data` overrides applied.
 */
import { randomInt } from 'node:crypto';
import type { ScalekitDirectoryEvent, ScalekitDirectoryEventType } from '@org/scim-core';
import { createEventFactory } from '@org/scim-testing';
import { UsageError } from './errors.js';

/** Short names, as `stripe trigger` takes them, to Scalekit's full type names. */
export const EVENT_TYPES = {
  user_created: 'organization.directory.user_created',
  user_updated: 'organization.directory.user_updated',
  user_deleted: 'organization.directory.user_deleted',
  group_created: 'organization.directory.group_created',
  group_updated: 'organization.directory.group_updated',
  group_deleted: 'organization.directory.group_deleted',
  directory_enabled: 'organization.directory_enabled',
  directory_disabled: 'organization.directory_disabled',
} as const satisfies Record<string, ScalekitDirectoryEventType>;

/** The full type for a short or full name, or `undefined`. */
export function eventTypeOf(name: string): ScalekitDirectoryEventType | undefined {
  if (Object.hasOwn(EVENT_TYPES, name)) return EVENT_TYPES[name as keyof typeof EVENT_TYPES];
  return (Object.values(EVENT_TYPES) as string[]).includes(name) ? (name as ScalekitDirectoryEventType) : undefined;
}

/** Scalekit's ids are a prefix and 17 digits. */
const scalekitId = (prefix: string) =>
  `${prefix}_${randomInt(10_000_000, 99_999_999)}${randomInt(100_000_000, 999_999_999)}`;

/** A realistic event of `type` for `organizationId`, as Scalekit would deliver it. */
export function buildEvent(
  type: ScalekitDirectoryEventType,
  organizationId: string | undefined,
): ScalekitDirectoryEvent {
  const factory = createEventFactory(organizationId === undefined ? {} : { organizationId });
  const userId = scalekitId('diruser');
  const groupId = scalekitId('dirgroup');
  const directoryId = scalekitId('dir');
  const user = {
    id: userId,
    dp_id: '00u1a2b3c4d5e6f7g8h9',
    preferred_username: 'ada.lovelace@example.com',
    email: 'ada.lovelace@example.com',
    active: true,
    name: 'Ada Lovelace',
    given_name: 'Ada',
    family_name: 'Lovelace',
    department: 'Engineering',
    title: 'Engineer',
    address: { locality: 'London', country: 'GB' },
    roles: [{ role_name: 'member' }],
    groups: [{ id: groupId, name: 'Engineering' }],
  };
  const group = {
    id: groupId,
    directory_id: directoryId,
    display_name: 'Engineering',
    external_id: '00g1a2b3c4d5e6f7g8h9',
  };
  switch (type) {
    case 'organization.directory.user_created':
      return factory.userCreated(user);
    case 'organization.directory.user_updated':
      return factory.userUpdated(user);
    case 'organization.directory.user_deleted':
      return factory.userDeleted({ id: userId, dp_id: user.dp_id, email: user.email });
    case 'organization.directory.group_created':
      return factory.groupCreated(group);
    case 'organization.directory.group_updated':
      return factory.groupUpdated(group);
    case 'organization.directory.group_deleted':
      return factory.groupDeleted(group);
    case 'organization.directory_enabled':
      return factory.directoryEnabled({ id: directoryId });
    case 'organization.directory_disabled':
      return factory.directoryDisabled({ id: directoryId });
  }
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'prototype', 'constructor']);

/** A `--data` value: JSON when it parses as JSON (`false`, `42`, `[…]`, `"42"`), else the string itself. */
function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Applies `key=value` overrides to `data`. Dotted keys reach into (and create) nested objects, and
 * into arrays by index (`groups.0.name=Ops`).
 */
export function applyOverrides(data: Record<string, unknown>, overrides: readonly string[]): void {
  for (const override of overrides) {
    const eq = override.indexOf('=');
    if (eq <= 0) throw new UsageError(`--data ${override}: expected key=value, e.g. address.locality=Oslo.`, 'trigger');
    const path = override.slice(0, eq).split('.');
    if (path.some((key) => key === '' || FORBIDDEN_KEYS.has(key))) {
      throw new UsageError(`--data ${override}: "${override.slice(0, eq)}" is not a usable key.`, 'trigger');
    }
    let target: Record<string, unknown> = data;
    for (const key of path.slice(0, -1)) {
      const next = target[key];
      if (typeof next === 'object' && next !== null) target = next as Record<string, unknown>;
      else {
        const created: Record<string, unknown> = {};
        target[key] = created;
        target = created;
      }
    }
    target[path[path.length - 1] as string] = parseValue(override.slice(eq + 1));
  }
}
