import type { ResourceRef, ResourceVersion } from './types.js';

/** Maps a UTF-16 code unit of U+D800 and above so that surrogates (code points above U+FFFF) sort last. */
const codePointRank = (unit: number) => (unit >= 0xe000 ? unit - 0x800 : unit + 0x2000);

/**
 * Orders two ids (or event ids) by Unicode code point: what a binary collation over UTF-8 gives
 * (PostgreSQL `collate "C"`, MySQL `utf8mb4_bin`, SQLite `BINARY`), so every store lists and
 * breaks ties the same way. JavaScript's `<` compares UTF-16 code units instead, which puts a
 * character above U+FFFF (a surrogate pair) before U+E000–U+FFFF; this does not.
 */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  const shorter = Math.min(a.length, b.length);
  for (let i = 0; i < shorter; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    return x >= 0xd800 && y >= 0xd800 ? codePointRank(x) - codePointRank(y) : x - y;
  }
  return a.length - b.length;
}

/**
 * Orders two versions: by `at`, then by `eventId` in code point order (`compareIds`), so every
 * store breaks a same-nanosecond tie the same way. Negative when `a` is older than `b`.
 */
export function compareVersions(
  a: Pick<ResourceVersion, 'at' | 'eventId'>,
  b: Pick<ResourceVersion, 'at' | 'eventId'>,
): number {
  if (a.at !== b.at) return a.at < b.at ? -1 : 1;
  return Math.sign(compareIds(a.eventId, b.eventId));
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
