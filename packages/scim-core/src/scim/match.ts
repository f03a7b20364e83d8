/**
 * Evaluating a SCIM filter against a resource (RFC 7644 §3.4.2.2), for the queries no index
 * answers. Attribute names match case-insensitively; string values compare case-insensitively
 * unless the attribute is `caseExact` (RFC 7643 §2.2), which the caller's schema says.
 *
 * A multi-valued attribute matches when any of its values does; a complex one compared without a
 * sub-attribute compares its `value` (RFC 7644 §3.4.2.2, "the filter is applied to the value").
 */
import type { AttributePath, CompareOperator, CompareValue, Filter } from './filter.js';

export interface MatchOptions {
  /**
   * Whether an attribute compares case-exactly, given its lower-cased dotted name without schema
   * (`username`, `emails.value`, `id`). Default: only `id`, `externalId` and `meta.version` are.
   */
  caseExact?: (name: string) => boolean;
}

type Json = unknown;

const DEFAULT_CASE_EXACT = new Set(['id', 'externalid', 'meta.version']);
const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** An instant: whole seconds since the epoch, and the fraction's digits (up to nanoseconds, trailing zeros dropped). */
export interface Instant {
  readonly seconds: number;
  readonly fraction: string;
}

/**
 * An `xsd:dateTime` with a time zone (RFC 7643 §2.3.5) as an instant, or `undefined` when `text` is
 * not one: `2015-10-10T14:38:21.8617979-07:00` (Entra's seven fractional digits) and
 * `2015-10-10T21:38:21.8617979Z` are the same instant. The fraction is kept exactly (no rounding to
 * milliseconds), up to nine digits. A date-time without a zone names no instant.
 */
export function parseInstant(text: string): Instant | undefined {
  const m = DATE_TIME.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const epochMs = Date.UTC(year, month - 1, day, hour, minute, second);
  const check = new Date(epochMs);
  // Date.UTC rolls 31 February over into March: a date that does not exist is no instant.
  if (check.getUTCMonth() !== month - 1 || check.getUTCDate() !== day || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  const [offsetHours, offsetMinutes] = [Number(m[10] ?? 0), Number(m[11] ?? 0)];
  if (offsetHours > 23 || offsetMinutes > 59) return undefined;
  const offset = (m[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60;
  return { seconds: epochMs / 1000 - offset, fraction: (m[7] ?? '').replace(/0+$/, '') };
}

function compareInstants(a: Instant, b: Instant): number {
  if (a.seconds !== b.seconds) return a.seconds - b.seconds;
  const width = Math.max(a.fraction.length, b.fraction.length);
  const x = a.fraction.padEnd(width, '0');
  const y = b.fraction.padEnd(width, '0');
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The value of `name` among `object`'s own keys, matched case-insensitively; never an inherited one. */
export function member(object: Json, name: string): Json {
  if (typeof object !== 'object' || object === null || Array.isArray(object)) return undefined;
  const record = object as Record<string, Json>;
  if (Object.hasOwn(record, name)) return record[name];
  const lower = name.toLowerCase();
  for (const key of Object.keys(record)) if (key.toLowerCase() === lower) return record[key];
  return undefined;
}

/** The values `path` reaches in `resource`: one per element of a multi-valued attribute. */
export function valuesAt(resource: Json, path: AttributePath): Json[] {
  let base = resource;
  if (path.schema !== undefined) {
    // An extension's attributes live under its URN; the core schema's at the top.
    const extension = member(resource, path.schema);
    if (extension !== undefined) base = extension;
  }
  const top = member(base, path.attribute);
  const items = Array.isArray(top) ? top : top === undefined ? [] : [top];
  const out: Json[] = [];
  for (const item of items) {
    if (path.subAttribute !== undefined) {
      const sub = member(item, path.subAttribute);
      if (Array.isArray(sub)) out.push(...sub);
      else if (sub !== undefined) out.push(sub);
    } else if (typeof item === 'object' && item !== null && !Array.isArray(item)) {
      out.push(member(item, 'value'));
    } else {
      out.push(item);
    }
  }
  return out;
}

function nameOf(path: AttributePath, parent?: AttributePath): string {
  const own = path.subAttribute === undefined ? path.attribute : `${path.attribute}.${path.subAttribute}`;
  return (parent ? `${parent.attribute}.${own}` : own).toLowerCase();
}

function compare(actual: Json, op: CompareOperator, expected: CompareValue, caseExact: boolean): boolean {
  if (expected === null) {
    // `eq null` means absent; `ne null` present.
    return op === 'eq'
      ? actual === null || actual === undefined
      : op === 'ne'
        ? actual !== null && actual !== undefined
        : false;
  }
  if (actual === null || actual === undefined) return op === 'ne';
  if (typeof expected === 'boolean') {
    if (typeof actual !== 'boolean') return op === 'ne';
    return op === 'eq' ? actual === expected : op === 'ne' ? actual !== expected : false;
  }
  if (typeof expected === 'number') {
    if (typeof actual !== 'number') return op === 'ne';
    return ordered(actual - expected, op);
  }
  if (typeof actual !== 'string') return op === 'ne';
  if (op !== 'co' && op !== 'sw' && op !== 'ew') {
    // Two date-times compare as instants, whatever their offsets and precision.
    const a = parseInstant(actual);
    const e = a && parseInstant(expected);
    if (a && e) return ordered(compareInstants(a, e), op);
  }
  const a = caseExact ? actual : actual.toLowerCase();
  const e = caseExact ? expected : expected.toLowerCase();
  switch (op) {
    case 'co':
      return a.includes(e);
    case 'sw':
      return a.startsWith(e);
    case 'ew':
      return a.endsWith(e);
    default:
      return ordered(a < e ? -1 : a > e ? 1 : 0, op);
  }
}

function ordered(difference: number, op: CompareOperator): boolean {
  switch (op) {
    case 'eq':
      return difference === 0;
    case 'ne':
      return difference !== 0;
    case 'gt':
      return difference > 0;
    case 'ge':
      return difference >= 0;
    case 'lt':
      return difference < 0;
    case 'le':
      return difference <= 0;
    default:
      return false;
  }
}

function present(value: Json): boolean {
  if (value === null || value === undefined || value === '') return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

/** Whether `resource` (a SCIM resource as JSON) matches `filter`. */
export function matchesFilter(resource: Json, filter: Filter, options: MatchOptions = {}): boolean {
  const caseExact = options.caseExact ?? ((name: string) => DEFAULT_CASE_EXACT.has(name));
  const evaluate = (node: Filter, scope: Json, parent: AttributePath | undefined): boolean => {
    switch (node.op) {
      case 'and':
        return evaluate(node.left, scope, parent) && evaluate(node.right, scope, parent);
      case 'or':
        return evaluate(node.left, scope, parent) || evaluate(node.right, scope, parent);
      case 'not':
        return !evaluate(node.filter, scope, parent);
      case 'valuePath': {
        const top = member(
          node.path.schema === undefined ? scope : (member(scope, node.path.schema) ?? scope),
          node.path.attribute,
        );
        const items = Array.isArray(top) ? top : top === undefined ? [] : [top];
        return items.some((item) => evaluate(node.filter, item, node.path));
      }
      case 'pr': {
        const raw =
          node.path.subAttribute === undefined
            ? member(
                node.path.schema === undefined ? scope : (member(scope, node.path.schema) ?? scope),
                node.path.attribute,
              )
            : valuesAt(scope, node.path).filter(present);
        return present(raw);
      }
      default: {
        const exact = caseExact(nameOf(node.path, parent));
        const values = valuesAt(scope, node.path);
        if (values.length === 0) return compare(undefined, node.op, node.value, exact);
        return node.op === 'ne'
          ? values.every((value) => compare(value, 'ne', node.value, exact))
          : values.some((value) => compare(value, node.op, node.value, exact));
      }
    }
  };
  return evaluate(filter, resource, undefined);
}
