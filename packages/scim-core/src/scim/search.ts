/**
 * What a list request asks (RFC 7644 §3.4.2): `filter`, `sortBy`, `sortOrder`, `startIndex`,
 * `count`, `attributes`, `excludedAttributes`, read from a GET's query string or from a
 * `POST /.search` body (§3.4.3), into one shape the server answers the same way.
 *
 * Also the filter's meaning for one resource type when a search spans several (the root
 * `/.search`): an attribute that type does not declare has no value there (§3.4.2.1), so each
 * comparison on it folds to a constant, and a filter that folds to `false` reads nothing.
 */
import type { AttributeDefinition } from './discovery.js';
import { ScimError } from './errors.js';
import type { AttributePath, CompareOperator, Filter } from './filter.js';
import type { ScimLimits } from './limits.js';
import { parseInstant } from './match.js';
import { type ResourceSchema, resolvePath, subAttributes } from './schema.js';

export const SEARCH_REQUEST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';

/** A list request's parameters as sent, before they are resolved against a schema. */
export interface ListQuery {
  readonly filter?: string;
  readonly sortBy?: string;
  readonly descending: boolean;
  /** 1-based; `undefined`, or below 1, is 1. */
  readonly startIndex?: number;
  /** `undefined` is the server's `maxResults`; below 0 is 0. */
  readonly count?: number;
  readonly attributes?: readonly string[];
  readonly excludedAttributes?: readonly string[];
}

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** `attributes` / `excludedAttributes` as names: comma-separated, refused beyond `maxAttributeNames` before splitting further. */
function attributeNames(text: string, param: string, limits: Pick<ScimLimits, 'maxAttributeNames'>): string[] {
  const names = text.split(',', limits.maxAttributeNames + 1);
  if (names.length > limits.maxAttributeNames) {
    throw new ScimError(400, 'invalidValue', `${param} names more than ${limits.maxAttributeNames} attributes.`);
  }
  return names;
}

/** A GET list's query string. Unparseable numbers take their defaults, as before. */
export function queryFromUrl(url: URL, limits: Pick<ScimLimits, 'maxAttributeNames'>): ListQuery {
  const params = url.searchParams;
  const integer = (name: string) => {
    const text = params.get(name);
    const value = text === null ? Number.NaN : Number.parseInt(text, 10);
    return Number.isNaN(value) ? undefined : value;
  };
  const names = (param: string) => {
    const text = params.get(param);
    return text === null ? undefined : attributeNames(text, param, limits);
  };
  const startIndex = integer('startIndex');
  const count = integer('count');
  const attributes = names('attributes');
  const excludedAttributes = names('excludedAttributes');
  const filter = params.get('filter');
  const sortBy = params.get('sortBy');
  return {
    ...(filter && { filter }),
    ...(sortBy && { sortBy }),
    descending: params.get('sortOrder')?.toLowerCase() === 'descending',
    ...(startIndex !== undefined && { startIndex }),
    ...(count !== undefined && { count }),
    ...(attributes && { attributes }),
    ...(excludedAttributes && { excludedAttributes }),
  };
}

const SEARCH_KEYS = new Map(
  ['schemas', 'filter', 'sortBy', 'sortOrder', 'startIndex', 'count', 'attributes', 'excludedAttributes'].map((key) => [
    key.toLowerCase(),
    key,
  ]),
);

/**
 * A `POST /.search` body (RFC 7644 §3.4.3): an object naming the SearchRequest schema, whose
 * parameters have the types the RFC gives them (`startIndex` and `count` integers, `sortOrder`
 * `ascending` or `descending`, `attributes` a list of strings). Anything else is a 400
 * `invalidSyntax` naming the parameter. Parameter names match case-insensitively (RFC 7643 §2.1);
 * `null` is an absent parameter; other keys are ignored, as unknown attributes are in a resource.
 * `attributes` may also be one comma-separated string, as in a query string.
 */
export function queryFromSearchBody(body: unknown, limits: Pick<ScimLimits, 'maxAttributeNames'>): ListQuery {
  const syntax = (detail: string) => new ScimError(400, 'invalidSyntax', `The search request is not valid: ${detail}.`);
  if (!isObject(body)) throw syntax('the body is a JSON object');
  const values = new Map<string, unknown>();
  for (const key of Object.keys(body)) {
    const name = SEARCH_KEYS.get(key.toLowerCase());
    if (name === undefined || body[key] === null) continue;
    if (values.has(name)) throw syntax(`"${name}" is given twice`);
    values.set(name, body[key]);
  }
  const schemas = values.get('schemas');
  if (
    !Array.isArray(schemas) ||
    !schemas.some((s) => typeof s === 'string' && s.toLowerCase() === SEARCH_REQUEST_SCHEMA.toLowerCase())
  ) {
    throw syntax(`"schemas" names "${SEARCH_REQUEST_SCHEMA}"`);
  }
  const text = (name: string): string | undefined => {
    const value = values.get(name);
    if (value !== undefined && typeof value !== 'string') throw syntax(`"${name}" is a string`);
    return value === '' ? undefined : value;
  };
  const integer = (name: string): number | undefined => {
    const value = values.get(name);
    if (value !== undefined && !Number.isSafeInteger(value)) throw syntax(`"${name}" is an integer`);
    return value as number | undefined;
  };
  const names = (name: string): string[] | undefined => {
    const value = values.get(name);
    if (value === undefined) return undefined;
    if (typeof value === 'string') return attributeNames(value, name, limits);
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
      throw syntax(`"${name}" is a list of attribute names`);
    }
    if (value.length > limits.maxAttributeNames) {
      throw new ScimError(400, 'invalidValue', `${name} names more than ${limits.maxAttributeNames} attributes.`);
    }
    return value as string[];
  };
  const order = text('sortOrder')?.toLowerCase();
  if (order !== undefined && order !== 'ascending' && order !== 'descending') {
    throw syntax('"sortOrder" is "ascending" or "descending"');
  }
  const filter = text('filter');
  const sortBy = text('sortBy');
  const startIndex = integer('startIndex');
  const count = integer('count');
  const attributes = names('attributes');
  const excludedAttributes = names('excludedAttributes');
  return {
    ...(filter !== undefined && { filter }),
    ...(sortBy !== undefined && { sortBy }),
    descending: order === 'descending',
    ...(startIndex !== undefined && { startIndex }),
    ...(count !== undefined && { count }),
    ...(attributes && { attributes }),
    ...(excludedAttributes && { excludedAttributes }),
  };
}

/** What a comparison on an attribute without a value answers (as `matchesFilter` does for an absent one). */
function absent(filter: Filter): boolean {
  if (!('value' in filter)) return false;
  if (filter.value === null) return filter.op === 'eq';
  return filter.op === 'ne';
}

/** The definition a comparison's path names: in `within`'s sub-attributes inside a value filter, else in the schema. */
function definitionOf(
  schema: ResourceSchema,
  path: AttributePath,
  within: AttributeDefinition | undefined,
): AttributeDefinition | undefined {
  if (within !== undefined) {
    return path.schema === undefined && path.subAttribute === undefined
      ? subAttributes(within).get(path.attribute.toLowerCase())
      : undefined;
  }
  const resolved = resolvePath(schema, path);
  return resolved && (resolved.sub ?? resolved.attribute);
}

/**
 * `filter` as it reads for one resource type of a search that spans several: each comparison on an
 * attribute `schema` does not declare is folded to what an absent attribute answers, and constants
 * are folded away. `true` matches every resource of the type, `false` none. `unknown` receives each
 * folded comparison, so the caller can refuse one that no searched type declares.
 */
export function restrictFilter(
  schema: ResourceSchema,
  filter: Filter,
  unknown: (node: Filter) => void,
  within?: AttributeDefinition,
): Filter | boolean {
  switch (filter.op) {
    case 'and':
    case 'or': {
      const left = restrictFilter(schema, filter.left, unknown, within);
      const right = restrictFilter(schema, filter.right, unknown, within);
      const and = filter.op === 'and';
      if (left === !and || right === !and) return !and;
      if (left === and) return right;
      if (right === and) return left;
      return { op: filter.op, left: left as Filter, right: right as Filter };
    }
    case 'not': {
      const inner = restrictFilter(schema, filter.filter, unknown, within);
      return typeof inner === 'boolean' ? !inner : { op: 'not', filter: inner };
    }
    case 'valuePath': {
      const resolved = within === undefined ? resolvePath(schema, filter.path) : undefined;
      if (resolved?.attribute.type !== 'complex' || resolved.sub !== undefined) {
        // Every comparison inside is unknown here too: the caller refuses one no type declares.
        const report = (node: Filter): void => {
          unknown(node);
          if (node.op === 'and' || node.op === 'or') {
            report(node.left);
            report(node.right);
          } else if (node.op === 'not') report(node.filter);
        };
        unknown(filter);
        report(filter.filter);
        return false;
      }
      const inner = restrictFilter(schema, filter.filter, unknown, resolved.attribute);
      // A value filter every value matches: the attribute has a value.
      if (inner === true) return { op: 'pr', path: filter.path };
      return inner === false ? false : { ...filter, filter: inner };
    }
    default:
      if (definitionOf(schema, filter.path, within)) return filter;
      unknown(filter);
      return absent(filter);
  }
}

const INSTANT_OPERATORS = new Set<CompareOperator>(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);

/**
 * Refuses (400 `invalidFilter`) a comparison of a `dateTime` attribute (`meta.created`,
 * `meta.lastModified`) with `eq`, `ne`, `gt`, `ge`, `lt` or `le` whose value is not a date-time with
 * a time zone: `meta.lastModified gt "yesterday"` compares nothing, and a date-time without a zone
 * names no instant. Names the schema does not declare are left to `checkFilter` and `restrictFilter`.
 */
export function checkDateTimes(schema: ResourceSchema, filter: Filter, within?: AttributeDefinition): void {
  switch (filter.op) {
    case 'and':
    case 'or':
      checkDateTimes(schema, filter.left, within);
      checkDateTimes(schema, filter.right, within);
      return;
    case 'not':
      checkDateTimes(schema, filter.filter, within);
      return;
    case 'valuePath': {
      const resolved = within === undefined ? resolvePath(schema, filter.path) : undefined;
      if (resolved?.attribute.type === 'complex') checkDateTimes(schema, filter.filter, resolved.attribute);
      return;
    }
    case 'pr':
      return;
    default: {
      const definition = definitionOf(schema, filter.path, within);
      if (definition?.type !== 'dateTime' || !INSTANT_OPERATORS.has(filter.op) || filter.value === null) return;
      if (typeof filter.value !== 'string' || !parseInstant(filter.value)) {
        throw new ScimError(
          400,
          'invalidFilter',
          `The filter compares the date-time "${definition.name}" with ${JSON.stringify(filter.value).slice(0, 100)}, which is not a date-time with a time zone (such as "2015-10-10T14:38:21.8617979-07:00").`,
        );
      }
    }
  }
}
