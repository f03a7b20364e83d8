/**
 * RFC 3339 timestamps with nanosecond precision.
 *
 * Scalekit's `occurred_at` carries up to nine fractional digits, and JavaScript's `Date` keeps
 * only milliseconds, so two events a few microseconds apart would compare equal. Ordering is
 * therefore done on `bigint` nanoseconds since the Unix epoch.
 */

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|([+-])(\d{2}):(\d{2}))$/;

/** True when `value` is an RFC 3339 date-time with at most nine fractional digits. */
export function isRfc3339(value: string): boolean {
  return parseRfc3339Nanos(value) !== undefined;
}

/** Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's `days_from_civil`). */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

/**
 * Parses an RFC 3339 date-time into nanoseconds since the Unix epoch, or `undefined` when the
 * string is not one (wrong shape, impossible date such as February 30th, or more than nine
 * fractional digits). Leap seconds (`:60`) are refused, as JavaScript's `Date` does.
 * Computed from the fields rather than through `Date`: it runs on every event, twice.
 */
export function parseRfc3339Nanos(value: string): bigint | undefined {
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = Number(m[6]);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const offsetHours = Number(m[10]);
    const offsetMins = Number(m[11]);
    if (offsetHours > 23 || offsetMins > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  const seconds = ((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute - offsetMinutes) * 60 + second;
  return BigInt(seconds) * 1_000_000_000n + BigInt((m[7] ?? '').padEnd(9, '0'));
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
