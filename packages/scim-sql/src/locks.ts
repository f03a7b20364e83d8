/**
 * The locks a transaction takes, in the one order every transaction takes them in.
 *
 * Hierarchical, as in `@org/scim-postgres`: each organization of the set first, then each
 * resource. Up to `MAX_RESOURCE_LOCKS` resources the organizations are locked shared (any number
 * of such transactions at once) and each resource in its mode; above it the organizations alone,
 * exclusively, which keeps every smaller transaction on them out at the cost of one lock.
 *
 * Keys are `0<sha256>` for an organization and `1<sha256>` for a resource: ASCII, so a database
 * sorts them exactly as JavaScript does (a binary collation and UTF-16 disagree above U+FFFF), of
 * one length whatever the ids, and an organization's lock sorts before any resource's.
 */
import { createHash } from 'node:crypto';
import type { ResourceRef } from '@org/scim-core';
import type { SqlLock } from './dialect.js';

/**
 * Above this many resources (exclusive and shared together) a transaction locks its
 * organizations exclusively instead of each resource: a group deletion of 100,000 members takes
 * one lock, not 100,000 (each a round trip's share and a row lock on MySQL).
 */
export const MAX_RESOURCE_LOCKS = 256;

const hash = (parts: readonly string[]) => createHash('sha256').update(JSON.stringify(parts)).digest('hex');

/** The locks for `resources` (exclusive) and `shared`, sorted by key, one per key (exclusive if any asks so). */
export function locksFor(resources: readonly ResourceRef[], shared: readonly ResourceRef[]): SqlLock[] {
  const all = [...resources, ...shared];
  if (all.length === 0) return [];
  const whole = all.length > MAX_RESOURCE_LOCKS;
  const modes = new Map<string, boolean>();
  for (const ref of all) modes.set(`0${hash([ref.organizationId])}`, whole);
  if (!whole) {
    for (const [i, ref] of all.entries()) {
      const key = `1${hash([ref.organizationId, ref.kind, ref.id])}`;
      modes.set(key, (modes.get(key) ?? false) || i < resources.length);
    }
  }
  return [...modes].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, exclusive]) => ({ key, exclusive }));
}
