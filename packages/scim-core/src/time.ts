/**
 * RFC 3339 timestamps with nanosecond precision.
 *
 * Scalekit's `occurred_at` carries up to nine fractional digits, and JavaScript's `Date` keeps
 * only milliseconds, so two events a few microseconds apart would compare equal. Ordering is
 * therefore done on `bigint` nanoseconds since the Unix epoch.
 */

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

/** The number the `count` ASCII digits at `at` spell, or -1 if any is not a digit. */
function digitsAt(value: string, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Powers of ten that scale a fraction of `i` digits to nanoseconds. */
const FRACTION_SCALE = [0, 100_000_000, 10_000_000, 1_000_000, 100_000, 10_000, 1_000, 100, 10, 1];

/** The last string parsed and its value: the schema checks `occurred_at` and the engine then orders by it. */
let lastText: string | undefined;
let lastNanos: bigint | undefined;

/**
 * Parses an RFC 3339 date-time into nanoseconds since the Unix epoch, or `undefined` when the
 * string is not one (wrong shape, impossible date such as February 30th, or more than nine
 * fractional digits). Leap seconds (`:60`) are refused, as JavaScript's `Date` does.
 * Computed from the fields rather than through `Date` or a regular expression: it runs on every
 * event, and allocates nothing but the result.
 */
export function parseRfc3339Nanos(value: string): bigint | undefined {
  if (value === lastText) return lastNanos;
  const nanos = parseNanos(value);
  lastText = value;
  lastNanos = nanos;
  return nanos;
}

/** `YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|±hh:mm)`, as the grammar of RFC 3339 §5.6 with `T`/`Z` in either case. */
function parseNanos(value: string): bigint | undefined {
  if (value.length < 20) return undefined;
  const year = digitsAt(value, 0, 4);
  const month = digitsAt(value, 5, 2);
  const day = digitsAt(value, 8, 2);
  const hour = digitsAt(value, 11, 2);
  const minute = digitsAt(value, 14, 2);
  const second = digitsAt(value, 17, 2);
  if (
    year < 0 ||
    month < 0 ||
    day < 0 ||
    hour < 0 ||
    minute < 0 ||
    second < 0 ||
    value[4] !== '-' ||
    value[7] !== '-' ||
    (value[10] !== 'T' && value[10] !== 't') ||
    value[13] !== ':' ||
    value[16] !== ':'
  ) {
    return undefined;
  }
  let at = 19;
  let fraction = 0;
  if (value[at] === '.') {
    const from = ++at;
    while (at < value.length && at - from < 10 && value.charCodeAt(at) >= 48 && value.charCodeAt(at) <= 57) at++;
    const count = at - from;
    if (count < 1 || count > 9) return undefined;
    fraction = digitsAt(value, from, count) * (FRACTION_SCALE[count] as number);
  }
  let offsetMinutes = 0;
  const zone = value[at];
  if (zone === 'Z' || zone === 'z') {
    if (value.length !== at + 1) return undefined;
  } else if (zone === '+' || zone === '-') {
    if (value.length !== at + 6 || value[at + 3] !== ':') return undefined;
    const offsetHours = digitsAt(value, at + 1, 2);
    const offsetMins = digitsAt(value, at + 4, 2);
    if (offsetHours < 0 || offsetMins < 0 || offsetHours > 23 || offsetMins > 59) return undefined;
    offsetMinutes = (zone === '-' ? -1 : 1) * (offsetHours * 60 + offsetMins);
  } else {
    return undefined;
  }
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  const seconds = ((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute - offsetMinutes) * 60 + second;
  return BigInt(seconds) * 1_000_000_000n + BigInt(fraction);
}

/** Formats nanoseconds since the epoch as an RFC 3339 UTC string with nine fractional digits. */
export function formatNanos(nanos: bigint): string {
  if (nanos >= 0n) {
    return `${secondPrefix(nanos / 1_000_000_000n)}.${(nanos % 1_000_000_000n).toString().padStart(9, '0')}Z`;
  }
  const ms = nanos / 1_000_000n;
  const fraction = (((nanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(Number(ms)).toISOString().slice(0, 19)}.${fraction}Z`;
}

/**
 * Nanoseconds since the epoch as `Date.prototype.toISOString` writes their millisecond
 * (`2026-01-02T03:04:05.678Z`), as SCIM's `meta.created` and `meta.lastModified` carry them.
 */
export function formatMillisIso(nanos: bigint): string {
  if (nanos < 0n || nanos > LAST_FOUR_DIGIT_YEAR_NANOS) return new Date(Number(nanos / 1_000_000n)).toISOString();
  return `${secondPrefix(nanos / 1_000_000_000n)}.${((nanos % 1_000_000_000n) / 1_000_000n).toString().padStart(3, '0')}Z`;
}

/**
 * `YYYY-MM-DDTHH:MM:SS` of a second since the epoch (not negative), for the two seconds asked for
 * last: every write stamps the current one, and its answer pairs it with the resource's creation.
 */
function secondPrefix(second: bigint): string {
  if (second === recentSecond) return recentPrefix;
  if (second === olderSecond) return olderPrefix;
  olderSecond = recentSecond;
  olderPrefix = recentPrefix;
  recentSecond = second;
  recentPrefix = new Date(Number(second) * 1000).toISOString().slice(0, 19);
  return recentPrefix;
}
/** 9999-12-31T23:59:59.999999999Z: later years are written with a sign and six digits. */
const LAST_FOUR_DIGIT_YEAR_NANOS = 253_402_300_799_999_999_999n;
let recentSecond = -1n;
let recentPrefix = '';
let olderSecond = -1n;
let olderPrefix = '';

/** Nanoseconds since the epoch for a millisecond clock reading. */
export function nanosFromMillis(ms: number): bigint {
  return BigInt(Math.trunc(ms)) * 1_000_000n;
}
