/**
 * SCIM PATCH (RFC 7644 §3.5.2) on a resource as JSON: add, replace and remove, with attribute
 * paths, value filters (`emails[type eq "work"].value`) and extension URNs. Atomic: the operations
 * apply to a copy, and the first that fails throws a `ScimError` with the original untouched.
 *
 * Also what Microsoft Entra ID sends (its "Known issues and resolutions with SCIM 2.0 compliance"):
 * capitalised `Replace`/`Add`/`Remove`; `"active": "False"` as a string; a path-less `replace` whose
 * keys are dotted (`name.givenName`) or URN-qualified; `members` removed by `value` (only those, never
 * all); and add-on-miss: `replace` of `emails[type eq "work"].value` with no work email adds one.
 */
import { ScimError } from './errors.js';
import { type AttributePath, type Filter, parseAttributePath, parseFilter } from './filter.js';
import { matchesFilter } from './match.js';

export const PATCH_OP_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

export interface PatchOperation {
  readonly op: 'add' | 'replace' | 'remove';
  readonly path?: string;
  readonly value?: unknown;
}

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Validates a PATCH body and returns its operations with `op` lower-cased. */
export function parsePatchRequest(body: unknown): PatchOperation[] {
  if (!isObject(body)) throw new ScimError(400, 'invalidSyntax', 'A PATCH body is a JSON object.');
  const schemas = body.schemas;
  if (!Array.isArray(schemas) || !schemas.includes(PATCH_OP_SCHEMA)) {
    throw new ScimError(400, 'invalidSyntax', `A PATCH body names the schema "${PATCH_OP_SCHEMA}".`);
  }
  const operations = body.Operations ?? body.operations;
  if (!Array.isArray(operations) || operations.length === 0) {
    throw new ScimError(400, 'invalidSyntax', 'A PATCH body has a non-empty "Operations" array.');
  }
  return operations.map((raw, i) => {
    if (!isObject(raw)) throw new ScimError(400, 'invalidSyntax', `Operation ${i} is not an object.`);
    const op = typeof raw.op === 'string' ? raw.op.toLowerCase() : undefined;
    if (op !== 'add' && op !== 'replace' && op !== 'remove') {
      throw new ScimError(
        400,
        'invalidSyntax',
        `Operation ${i} has op ${JSON.stringify(raw.op)}; expected add, replace or remove.`,
      );
    }
    if (raw.path !== undefined && typeof raw.path !== 'string') {
      throw new ScimError(400, 'invalidPath', `Operation ${i} has a path that is not a string.`);
    }
    if (op !== 'remove' && !('value' in raw)) {
      throw new ScimError(400, 'invalidValue', `Operation ${i} (${op}) has no value.`);
    }
    return {
      op,
      ...(typeof raw.path === 'string' && { path: raw.path }),
      ...('value' in raw && { value: raw.value }),
    };
  });
}

/** A PATCH path: an attribute, optionally filtered (`emails[type eq "work"]`), optionally a sub-attribute of the matches. */
interface PatchPath {
  readonly attribute: AttributePath;
  readonly filter?: Filter;
  readonly subAttribute?: string;
}

function invalidPath(detail: string): ScimError {
  return new ScimError(400, 'invalidPath', `The path is not valid: ${detail}.`);
}

export function parsePatchPath(path: string): PatchPath {
  const open = path.indexOf('[');
  if (open === -1) return { attribute: parseAttributePath(path.trim(), invalidPath) };
  const close = path.lastIndexOf(']');
  if (close < open) throw invalidPath(`"${path}" opens "[" without closing it`);
  const attribute = parseAttributePath(path.slice(0, open).trim(), invalidPath);
  if (attribute.subAttribute !== undefined) throw invalidPath(`"${path}" filters a sub-attribute`);
  let filter: Filter;
  try {
    filter = parseFilter(path.slice(open + 1, close));
  } catch (error) {
    throw error instanceof ScimError ? invalidPath(`the filter in "${path}": ${error.detail}`) : error;
  }
  const rest = path.slice(close + 1);
  if (rest === '') return { attribute, filter };
  if (!/^\.[A-Za-z$][\w$-]*$/.test(rest)) throw invalidPath(`"${rest}" after "]" is not a sub-attribute`);
  return { attribute, filter, subAttribute: rest.slice(1) };
}

export interface PatchOptions {
  /** Attributes clients may not change (lower-cased names). Default `id`, `meta`, `schemas`, `groups`. */
  readonly readOnly?: ReadonlySet<string>;
  /** Attributes whose string values `"True"`/`"False"` mean booleans (lower-cased dotted names). Default `active`, `*.primary`. */
  readonly booleans?: (name: string) => boolean;
}

const DEFAULT_READ_ONLY = new Set(['id', 'meta', 'schemas', 'groups']);
const DEFAULT_BOOLEANS = (name: string) => name === 'active' || name.endsWith('.primary') || name === 'primary';

/** The key of `name` in `object`, matched case-insensitively; `name` itself when absent. */
function keyOf(object: JsonObject, name: string): string {
  if (name in object) return name;
  const lower = name.toLowerCase();
  return Object.keys(object).find((key) => key.toLowerCase() === lower) ?? name;
}

/** Applies the operations to a copy of `resource` and returns it; throws without changing anything. */
export function applyPatch(
  resource: JsonObject,
  operations: readonly PatchOperation[],
  options: PatchOptions = {},
): JsonObject {
  const readOnly = options.readOnly ?? DEFAULT_READ_ONLY;
  const booleans = options.booleans ?? DEFAULT_BOOLEANS;
  const result = structuredClone(resource);

  const coerce = (name: string, value: unknown): unknown => {
    if (typeof value === 'string' && booleans(name.toLowerCase())) {
      if (value.toLowerCase() === 'true') return true;
      if (value.toLowerCase() === 'false') return false;
      throw new ScimError(400, 'invalidValue', `"${name}" is a boolean, not ${JSON.stringify(value)}.`);
    }
    if (isObject(value)) {
      const out: JsonObject = {};
      for (const [k, v] of Object.entries(value)) out[k] = coerce(`${name}.${k}`, v);
      return out;
    }
    if (Array.isArray(value)) return value.map((v) => (isObject(v) ? coerce(name, v) : v));
    return value;
  };

  /** The object an attribute path lives in: the resource, or its extension's object (created on write). */
  const container = (path: AttributePath, create: boolean): JsonObject | undefined => {
    if (path.schema === undefined) return result;
    const schemas = Array.isArray(result.schemas) ? (result.schemas as string[]) : [];
    const isCore = /^urn:ietf:params:scim:schemas:core:2\.0:/i.test(path.schema);
    if (isCore) return result;
    const key = keyOf(result, path.schema);
    if (!isObject(result[key])) {
      if (!create) return undefined;
      result[key] = {};
      if (!schemas.includes(path.schema)) result.schemas = [...schemas, path.schema];
    }
    return result[key] as JsonObject;
  };

  const guard = (path: AttributePath) => {
    if (path.schema === undefined && readOnly.has(path.attribute.toLowerCase())) {
      throw new ScimError(400, 'mutability', `"${path.attribute}" is read-only.`);
    }
  };

  const setAttribute = (path: AttributePath, value: unknown, mode: 'add' | 'replace') => {
    guard(path);
    const target = container(path, true) as JsonObject;
    const name = path.subAttribute === undefined ? path.attribute : `${path.attribute}.${path.subAttribute}`;
    const coerced = coerce(name, value);
    const key = keyOf(target, path.attribute);
    if (path.subAttribute !== undefined) {
      const parent = isObject(target[key]) ? (target[key] as JsonObject) : {};
      parent[keyOf(parent, path.subAttribute)] = coerced;
      target[key] = parent;
      return;
    }
    const current = target[key];
    if (mode === 'add' && Array.isArray(current)) {
      const additions = Array.isArray(coerced) ? coerced : [coerced];
      const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
      target[key] = [...current, ...additions.filter((v) => !current.some((c) => same(c, v)))];
    } else if (mode === 'add' && isObject(current) && isObject(coerced)) {
      target[key] = { ...current, ...coerced };
    } else {
      target[key] = coerced;
    }
  };

  /** A path-less add or replace: each key of the value is a path (Entra sends dotted and URN keys). */
  const setMany = (value: unknown, mode: 'add' | 'replace') => {
    if (!isObject(value)) throw new ScimError(400, 'invalidValue', `A ${mode} without a path takes an object.`);
    for (const [key, v] of Object.entries(value)) {
      if (key.toLowerCase() === 'schemas') continue;
      // Entra: a key may itself be a filtered path, `"emails[type eq \"work\"].value": "…"`.
      if (key.includes('[')) {
        applyOne({ op: mode, path: key, value: v });
        continue;
      }
      // Okta repeats the id in a path-less replace: a read-only attribute set to what it already is changes nothing.
      if (readOnly.has(key.toLowerCase()) && JSON.stringify(result[keyOf(result, key)]) === JSON.stringify(v)) continue;
      if (key.startsWith('urn:') && isObject(v) && !key.slice(key.lastIndexOf(':') + 1).includes('.')) {
        // An extension object: { "urn:…:enterprise:2.0:User": { "department": "…" } }, unless the
        // URN itself ends in an attribute name (then it is one attribute).
        const looksLikeSchema = /:(User|Group)$/i.test(key);
        if (looksLikeSchema) {
          for (const [k2, v2] of Object.entries(v)) setAttribute({ schema: key, attribute: k2 }, v2, mode);
          continue;
        }
      }
      setAttribute(parseAttributePath(key, invalidPath), v, mode);
    }
  };

  /** Elements of a multi-valued attribute that match the path's filter. */
  const matching = (path: PatchPath, create: boolean) => {
    const target = container(path.attribute, create);
    if (!target)
      return { target: undefined, key: path.attribute.attribute, list: [] as unknown[], hits: [] as number[] };
    const key = keyOf(target, path.attribute.attribute);
    const list = Array.isArray(target[key]) ? (target[key] as unknown[]) : [];
    const hits = list.flatMap((item, i) => (matchesFilter(item, path.filter as Filter) ? [i] : []));
    return { target, key, list, hits };
  };

  /** For add-on-miss: the element a filter of `eq` conditions joined by `and` describes. */
  const elementFrom = (filter: Filter): JsonObject | undefined => {
    if (filter.op === 'eq' && filter.path.subAttribute === undefined && filter.path.schema === undefined) {
      return { [filter.path.attribute]: filter.value };
    }
    if (filter.op === 'and') {
      const left = elementFrom(filter.left);
      const right = elementFrom(filter.right);
      return left && right ? { ...left, ...right } : undefined;
    }
    return undefined;
  };

  function applyOne(operation: PatchOperation): void {
    if (operation.path === undefined) {
      if (operation.op === 'remove') throw new ScimError(400, 'noTarget', 'A remove needs a path.');
      setMany(operation.value, operation.op);
      return;
    }
    const path = parsePatchPath(operation.path);
    guard(path.attribute);
    if (!path.filter) {
      if (operation.op !== 'remove') {
        setAttribute(path.attribute, operation.value, operation.op);
        return;
      }
      const target = container(path.attribute, false);
      if (!target) return;
      const key = keyOf(target, path.attribute.attribute);
      if (path.attribute.subAttribute !== undefined) {
        if (isObject(target[key]))
          delete (target[key] as JsonObject)[keyOf(target[key] as JsonObject, path.attribute.subAttribute)];
      } else if (Array.isArray(target[key]) && operation.value !== undefined) {
        // Entra: remove these members (by value), never all of them.
        const values = (Array.isArray(operation.value) ? operation.value : [operation.value]).map((v) =>
          isObject(v) ? v.value : v,
        );
        target[key] = (target[key] as unknown[]).filter((item) => !values.includes(isObject(item) ? item.value : item));
      } else {
        delete target[key];
      }
      return;
    }
    const { target, key, list, hits } = matching(path, operation.op !== 'remove');
    if (operation.op === 'remove') {
      if (!target) return;
      if (path.subAttribute === undefined) target[key] = list.filter((_, i) => !hits.includes(i));
      else for (const i of hits) delete (list[i] as JsonObject)[keyOf(list[i] as JsonObject, path.subAttribute)];
      return;
    }
    const name = `${path.attribute.attribute}${path.subAttribute ? `.${path.subAttribute}` : ''}`;
    const value = coerce(name, operation.value);
    if (hits.length === 0) {
      const element = elementFrom(path.filter);
      if (!element) {
        throw new ScimError(
          400,
          'noTarget',
          `No value of "${path.attribute.attribute}" matches the filter in "${operation.path}".`,
        );
      }
      const added =
        path.subAttribute === undefined
          ? { ...element, ...(isObject(value) ? value : {}) }
          : { ...element, [path.subAttribute]: value };
      (target as JsonObject)[key] = [...list, added];
      return;
    }
    for (const i of hits) {
      const item = list[i];
      if (path.subAttribute !== undefined && isObject(item)) item[keyOf(item, path.subAttribute)] = value;
      else if (isObject(item) && isObject(value)) list[i] = operation.op === 'add' ? { ...item, ...value } : value;
      else list[i] = value;
    }
    (target as JsonObject)[key] = list;
  }

  for (const operation of operations) applyOne(operation);
  return result;
}
