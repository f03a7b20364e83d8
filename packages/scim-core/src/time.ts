/**
 * RFC 3339 timestamps with nanosecond precision.
 *
 * Scalekit's `occurred_at` carries up to nine fractional digits, and JavaScript's `Date` keeps
 * only milliseconds, so two events a few microseconds apart would compare equal. Ordering is
 * therefore done on `bigint` nanoseconds since the Unix epoch.
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$/;

/** True when `value` is an RFC 3339 date-time with at most nine fractional digits. */
export function isRfc3339(value: string): boolean {
  return parseRfc3339Nanos(value) !== undefined;
}

/**
 * Parses an RFC 3339 date-time into nanoseconds since the Unix epoch, or `undefined` when the
 * string is not one (wrong shape, impossible date such as February 30th, or more than nine
 * fractional digits).
 */
export function parseRfc3339Nanos(value: string): bigint | undefined {
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, fraction = '', offset = 'Z'] = m;
  const wholeSeconds = `${y}-${mo}-${d}T${h}:${mi}:${s}${offset.toUpperCase()}`;
  const ms = Date.parse(wholeSeconds);
  if (Number.isNaN(ms)) return undefined;
  // Date.parse rolls impossible dates over (Feb 30th → Mar 2nd); reject those.
  if (offset.toUpperCase() === 'Z' && new Date(ms).toISOString().slice(0, 19) !== wholeSeconds.slice(0, 19)) {
    return undefined;
  }
  return BigInt(ms) * 1_000_000n + BigInt(fraction.padEnd(9, '0'));
}

/** Formats nanoseconds since the epoch as an RFC 3339 UTC string with nine fractional digits. */
export function formatNanos(nanos: bigint): string {
  const ms = nanos / 1_000_000n;
  const fraction = (((nanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(Number(ms)).toISOString().slice(0, 19)}.${fraction}Z`;
}

/** Nanoseconds since the epoch for a millisecond clock reading. */
export function nanosFromMillis(ms: number): bigint {
  return BigInt(Math.trunc(ms)) * 1_000_000n;
}
