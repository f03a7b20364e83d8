import type { ResourceRef, ResourceVersion } from './types.js';

/**
 * Orders two versions: by `at`, then by `eventId` (plain code-unit order), so every store breaks a
 * same-nanosecond tie the same way. Negative when `a` is older than `b`.
 */
export function compareVersions(
  a: Pick<ResourceVersion, 'at' | 'eventId'>,
  b: Pick<ResourceVersion, 'at' | 'eventId'>,
): number {
  if (a.at !== b.at) return a.at < b.at ? -1 : 1;
  if (a.eventId === b.eventId) return 0;
  return a.eventId < b.eventId ? -1 : 1;
}

/** True when `next` may replace `current` (nothing stored counts as oldest). */
export function isNewerVersion(next: ResourceVersion, current: ResourceVersion | undefined): boolean {
  return current === undefined || compareVersions(next, current) > 0;
}

/** A string key for a resource, unique across organizations and kinds. */
export function resourceKey(ref: ResourceRef): string {
  return `${ref.organizationId}\u0000${ref.kind}\u0000${ref.id}`;
}

/**
 * The `createdAt` a store keeps when `next` replaces `previous` in `advanceVersion`: carried over
 * while the resource lives, restarted at `next.at` when it was absent or deleted.
 */
export function createdAt(previous: ResourceVersion | undefined, next: ResourceVersion): bigint {
  return previous && !previous.deleted ? (previous.createdAt ?? previous.at) : next.at;
}
