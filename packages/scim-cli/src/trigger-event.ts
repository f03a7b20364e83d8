/**
 * The event types `scim-sync trigger` sends and its `--data key=value` overrides, parsed once into
 * paths and values and then applied to the event's `data`.
 */
import type { ScalekitDirectoryEventType } from '@org/scim-core';
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

/** The short name of a full type (`user_updated` for `organization.directory.user_updated`). */
export function shortNameOf(type: ScalekitDirectoryEventType): string {
  return type.slice(type.lastIndexOf('.') + 1);
}

/** One `--data key=value`: the dotted key split into a path, and the value parsed. */
export interface DataOverride {
  readonly path: readonly string[];
  readonly value: unknown;
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'prototype', 'constructor']);

/**
 * SCIM's spellings of a user's name, as someone used to SCIM types them, to the fields Scalekit
 * sends (its `name` is one string, so `name.given` would otherwise replace it with an object).
 */
const USER_KEY_ALIASES: ReadonlyMap<string, string> = new Map([
  ['name.given', 'given_name'],
  ['name.givenName', 'given_name'],
  ['name.family', 'family_name'],
  ['name.familyName', 'family_name'],
  ['name.formatted', 'name'],
]);

/** A `--data` value: JSON when it parses as JSON (`false`, `42`, `[…]`, `"42"`), else the string itself. */
function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

/**
 * Parses `key=value` overrides. Dotted keys reach into (and create) nested objects, and into arrays
 * by index (`groups.0.name=Ops`); a key that would reach an object's prototype is refused. For user
 * events, `name.given`, `name.family` and `name.formatted` mean `given_name`, `family_name` and `name`.
 */
export function parseOverrides(raw: readonly string[], options: { userEvent: boolean }): DataOverride[] {
  return raw.map((override) => {
    const eq = override.indexOf('=');
    if (eq <= 0) throw new UsageError(`--data ${override}: expected key=value, e.g. address.locality=Oslo.`, 'trigger');
    const given = override.slice(0, eq);
    const key = (options.userEvent && USER_KEY_ALIASES.get(given)) || given;
    const path = key.split('.');
    if (path.some((part) => part === '' || FORBIDDEN_KEYS.has(part))) {
      throw new UsageError(`--data ${override}: "${given}" is not a usable key.`, 'trigger');
    }
    return { path, value: parseValue(override.slice(eq + 1)) };
  });
}

/** The last override of the top-level field `key`, if any (its value may be anything, `null` included). */
export function overrideOf(overrides: readonly DataOverride[], key: string): DataOverride | undefined {
  return overrides.findLast((override) => override.path.length === 1 && override.path[0] === key);
}

/** Whether any override sets `key` or something inside it. */
export function overridesTouch(overrides: readonly DataOverride[], key: string): boolean {
  return overrides.some((override) => override.path[0] === key);
}

/** Applies the overrides to `data`, in order. */
export function applyOverrides(data: Record<string, unknown>, overrides: readonly DataOverride[]): void {
  for (const { path, value } of overrides) {
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
    target[path[path.length - 1] as string] = value;
  }
}
