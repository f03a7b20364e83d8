/**
 * SCIM PATCH (RFC 7644 §3.5.2) on a resource as JSON: add, replace and remove, with attribute
 * paths, value filters (`emails[type eq "work"].value`) and extension URNs. Atomic: the operations
 * apply to a copy, and the first that fails throws a `ScimError` with the original untouched.
 *
 * Schema-bound: every path is resolved to an attribute the resource type declares before anything
 * is read or written, and every key written is that attribute's declared name. A path naming
 * anything else (`__proto__:x`, `name.toString`, an undeclared extension) is a 400 `invalidPath`; in
 * a path-less value, keys that name no declared attribute are left out, as in a POST.
 *
 * Also what Microsoft Entra ID sends (its "Known issues and resolutions with SCIM 2.0 compliance"):
 * capitalised `Replace`/`Add`/`Remove`; `"active": "False"` as a string; a path-less `replace` whose
 * keys are dotted (`name.givenName`) or URN-qualified; `members` removed by `value` (only those, never
 * all); and add-on-miss: `replace` of `emails[type eq "work"].value` with no work email adds one.
 */
import type { AttributeDefinition } from './discovery.js';
import { ScimError } from './errors.js';
import { type Filter, parseAttributePath, parseFilter } from './filter.js';
import { DEFAULT_SCIM_LIMITS, type ScimLimits } from './limits.js';
import { matchesFilter } from './match.js';
import {
  builtInSchemas,
  checkFilter,
  cleanValue,
  extensionOf,
  type ResolvedPath,
  type ResourceSchema,
  resolvePath,
  type SanitizeOptions,
  sanitizeResource,
  schemaUrns,
  subAttributes,
} from './schema.js';

export const PATCH_OP_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

export interface PatchOperation {
  readonly op: 'add' | 'replace' | 'remove';
  readonly path?: string;
  readonly value?: unknown;
}

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The own value of `key`, never an inherited one. */
const own = (object: JsonObject, key: string): unknown => (Object.hasOwn(object, key) ? object[key] : undefined);

type PatchLimits = Pick<ScimLimits, 'maxPatchOperations' | 'maxPathLength' | 'maxOperationValues'>;

/** How many values an operation carries: its array's elements, or the elements of each array in a path-less object. */
function valueCount(value: unknown): number {
  if (Array.isArray(value)) return value.length;
  if (!isObject(value)) return 1;
  let count = 0;
  for (const key of Object.keys(value)) {
    const item = value[key];
    count += Array.isArray(item) ? item.length : 1;
  }
  return count;
}

/** Validates a PATCH body and returns its operations with `op` lower-cased. */
export function parsePatchRequest(body: unknown, limits: Partial<PatchLimits> = {}): PatchOperation[] {
  const maxOperations = limits.maxPatchOperations ?? DEFAULT_SCIM_LIMITS.maxPatchOperations;
  const maxPath = limits.maxPathLength ?? DEFAULT_SCIM_LIMITS.maxPathLength;
  const maxValues = limits.maxOperationValues ?? DEFAULT_SCIM_LIMITS.maxOperationValues;
  if (!isObject(body)) throw new ScimError(400, 'invalidSyntax', 'A PATCH body is a JSON object.');
  const schemas = own(body, 'schemas');
  if (!Array.isArray(schemas) || !schemas.includes(PATCH_OP_SCHEMA)) {
    throw new ScimError(400, 'invalidSyntax', `A PATCH body names the schema "${PATCH_OP_SCHEMA}".`);
  }
  const operations = own(body, 'Operations') ?? own(body, 'operations');
  if (!Array.isArray(operations) || operations.length === 0) {
    throw new ScimError(400, 'invalidSyntax', 'A PATCH body has a non-empty "Operations" array.');
  }
  if (operations.length > maxOperations) {
    throw new ScimError(
      413,
      undefined,
      `A PATCH has at most ${maxOperations} operations; this one has ${operations.length}.`,
    );
  }
  return operations.map((raw, i) => {
    if (!isObject(raw)) throw new ScimError(400, 'invalidSyntax', `Operation ${i} is not an object.`);
    const rawOp = own(raw, 'op');
    const op = typeof rawOp === 'string' ? rawOp.toLowerCase() : undefined;
    if (op !== 'add' && op !== 'replace' && op !== 'remove') {
      throw new ScimError(
        400,
        'invalidSyntax',
        `Operation ${i} has op ${JSON.stringify(rawOp)?.slice(0, 40)}; expected add, replace or remove.`,
      );
    }
    const path = own(raw, 'path');
    if (path !== undefined && typeof path !== 'string') {
      throw new ScimError(400, 'invalidPath', `Operation ${i} has a path that is not a string.`);
    }
    if (typeof path === 'string' && path.length > maxPath) {
      throw new ScimError(400, 'invalidPath', `Operation ${i} has a path longer than ${maxPath} characters.`);
    }
    const hasValue = Object.hasOwn(raw, 'value');
    if (op !== 'remove' && !hasValue) {
      throw new ScimError(400, 'invalidValue', `Operation ${i} (${op}) has no value.`);
    }
    const values = hasValue ? valueCount(raw.value) : 0;
    if (values > maxValues) {
      throw new ScimError(
        413,
        undefined,
        `An operation carries at most ${maxValues} values; operation ${i} has ${values}. Split it into several operations or requests.`,
      );
    }
    return {
      op,
      ...(typeof path === 'string' && { path }),
      ...(hasValue && { value: raw.value }),
    };
  });
}

/** Where an operation's path points, resolved against the schema. */
export type PatchTarget =
  /** A whole extension: `"path": "urn:…:enterprise:2.0:User"`. */
  | { readonly kind: 'extension'; readonly urn: string }
  /** An attribute (or sub-attribute), optionally filtered, optionally a sub-attribute of the matches. */
  | {
      readonly kind: 'attribute';
      readonly path: ResolvedPath;
      readonly filter?: Filter;
      readonly subAttribute?: AttributeDefinition;
    };

function invalidPath(detail: string): ScimError {
  return new ScimError(400, 'invalidPath', `The path is not valid: ${detail}.`);
}

/** Resolves a PATCH path against `schema`; throws a 400 `invalidPath` (or `mutability` for `schemas`). */
export function parsePatchPath(path: string, schema: ResourceSchema): PatchTarget {
  const text = path.trim();
  const shown = text.slice(0, 200);
  const extension = extensionOf(schema, text);
  if (extension) return { kind: 'extension', urn: extension.urn };
  if (text.toLowerCase() === 'schemas') throw new ScimError(400, 'mutability', '"schemas" is read-only.');
  const resolve = (attributeText: string): ResolvedPath => {
    const parsed = parseAttributePath(attributeText, schemaUrns(schema), invalidPath);
    const resolved = resolvePath(schema, parsed);
    if (!resolved) throw invalidPath(`"${shown}" names no attribute the ${schema.name} schema declares`);
    return resolved;
  };
  const open = text.indexOf('[');
  if (open === -1) return { kind: 'attribute', path: resolve(text) };
  const close = text.lastIndexOf(']');
  if (close < open) throw invalidPath(`"${shown}" opens "[" without closing it`);
  const attribute = resolve(text.slice(0, open).trim());
  if (attribute.sub !== undefined) throw invalidPath(`"${shown}" filters a sub-attribute`);
  if (attribute.attribute.type !== 'complex' || !attribute.attribute.multiValued) {
    throw invalidPath(
      `"${shown}" filters "${attribute.attribute.name}", which is not a multi-valued complex attribute`,
    );
  }
  let filter: Filter;
  try {
    // Inside the brackets names are sub-attributes: no schema URN may prefix them.
    filter = parseFilter(text.slice(open + 1, close), { schemas: [] });
    checkFilter(schema, filter, attribute.attribute);
  } catch (error) {
    throw error instanceof ScimError ? invalidPath(`the filter in "${shown}": ${error.detail}`) : error;
  }
  const rest = text.slice(close + 1);
  if (rest === '') return { kind: 'attribute', path: attribute, filter };
  const subAttribute = /^\.[A-Za-z$][\w$-]*$/.test(rest)
    ? subAttributes(attribute.attribute).get(rest.slice(1).toLowerCase())
    : undefined;
  if (!subAttribute)
    throw invalidPath(`"${rest.slice(0, 100)}" after "]" is not a sub-attribute of "${attribute.attribute.name}"`);
  return { kind: 'attribute', path: attribute, filter, subAttribute };
}

/**
 * The `active` a PATCH leaves a user with when setting it is all the PATCH does: every operation an
 * `add` or `replace` of `active`, by its path (`"path": "active"`, Entra) or as a path-less value
 * holding only `active` (`"value": { "active": false }`, Okta), the last one deciding. Values are
 * checked as `applyPatch` checks them, so `"False"` is `false` and a number is the same 400.
 * `undefined` for any other PATCH (a `remove`, another attribute, a null value): apply it in full.
 * Deactivation and reactivation are most of what IdPs PATCH, and the server answers them from this
 * without rebuilding the user from its SCIM form.
 */
export function activeOnlyPatch(
  operations: readonly PatchOperation[],
  schema: ResourceSchema,
  limits: Pick<ScimLimits, 'maxStringLength' | 'maxIdentifierLength'> = DEFAULT_SCIM_LIMITS,
): boolean | undefined {
  let active: boolean | undefined;
  for (const operation of operations) {
    if (operation.op === 'remove') return undefined;
    let path = operation.path;
    let value = operation.value;
    if (path === undefined) {
      if (!isObject(value)) return undefined;
      const keys = Object.keys(value).filter((key) => key.toLowerCase() !== 'schemas');
      if (keys.length !== 1) return undefined;
      path = keys[0] as string;
      value = value[path];
    }
    const attribute = activeAttribute(path, schema);
    if (!attribute) return undefined;
    const options: SanitizeOptions = { limits, mode: 'input', identifiers: schema.identifiers };
    const cleaned = cleanValue(attribute, value, attribute.name, options);
    if (typeof cleaned !== 'boolean') return undefined;
    active = cleaned;
  }
  return active;
}

/** The definition of the core `active` attribute when `path` names it alone (no filter, sub-attribute or extension). */
function activeAttribute(path: string, schema: ResourceSchema): AttributeDefinition | undefined {
  let target: PatchTarget;
  try {
    target = parsePatchPath(path, schema);
  } catch {
    return undefined; // applying it in full answers the 400
  }
  if (target.kind !== 'attribute' || target.filter || target.subAttribute) return undefined;
  const { attribute, sub, extension } = target.path;
  return attribute.name === 'active' && sub === undefined && extension === undefined && attribute.type === 'boolean'
    ? attribute
    : undefined;
}

export interface PatchOptions {
  /** The resource type's schema. Default: the built-in Group schema if `resource.schemas` names it, else User. */
  readonly schema?: ResourceSchema;
  /** String lengths, as the server enforces them. Default `DEFAULT_SCIM_LIMITS`. */
  readonly limits?: Pick<ScimLimits, 'maxStringLength' | 'maxIdentifierLength'>;
}

function defaultSchema(resource: JsonObject): ResourceSchema {
  const { user, group } = builtInSchemas();
  const schemas = own(resource, 'schemas');
  return Array.isArray(schemas) && schemas.includes(group.core) ? group : user;
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Applies the operations to a copy of `resource` and returns it; throws without changing anything.
 * The copy holds only what the schema declares (plus `schemas`, recomputed from the extensions present).
 */
export function applyPatch(
  resource: JsonObject,
  operations: readonly PatchOperation[],
  options: PatchOptions = {},
): JsonObject {
  const schema = options.schema ?? defaultSchema(resource);
  const clean: SanitizeOptions = {
    limits: options.limits ?? DEFAULT_SCIM_LIMITS,
    mode: 'input',
    identifiers: schema.identifiers,
  };
  const result = sanitizeResource(schema, resource, { ...clean, mode: 'stored' });

  /** The object an attribute lives in: the resource, or its extension's object (created on write). */
  const containerOf = (extension: string | undefined, create: boolean): JsonObject | undefined => {
    if (extension === undefined) return result;
    const existing = own(result, extension);
    if (isObject(existing)) return existing;
    if (!create) return undefined;
    const created: JsonObject = {};
    result[extension] = created;
    return created;
  };

  const guard = (path: ResolvedPath) => {
    if (path.attribute.mutability === 'readOnly') {
      throw new ScimError(400, 'mutability', `"${path.attribute.name}" is read-only.`);
    }
  };

  const nameOf = (path: ResolvedPath, sub = path.sub) =>
    sub ? `${path.attribute.name}.${sub.name}` : path.attribute.name;

  const setAttribute = (path: ResolvedPath, value: unknown, mode: 'add' | 'replace') => {
    guard(path);
    const target = containerOf(path.extension, true) as JsonObject;
    const { attribute, sub } = path;
    const current = own(target, attribute.name);
    if (sub) {
      const cleaned = cleanValue(sub, value, nameOf(path), clean);
      const put = (item: JsonObject) => {
        if (cleaned === undefined) delete item[sub.name];
        else item[sub.name] = cleaned;
      };
      if (attribute.multiValued) {
        // A sub-attribute of a multi-valued attribute without a filter: every value's (RFC 7644 §3.5.2.3).
        const list = Array.isArray(current) ? current.filter(isObject) : [];
        if (list.length === 0 && cleaned !== undefined) list.push({});
        for (const item of list) put(item);
        target[attribute.name] = list;
      } else {
        const parent = isObject(current) ? current : {};
        put(parent);
        target[attribute.name] = parent;
      }
      return;
    }
    const cleaned = cleanValue(attribute, value, attribute.name, clean);
    if (cleaned === undefined) {
      if (mode === 'replace') delete target[attribute.name];
      return;
    }
    if (mode === 'add' && Array.isArray(current) && Array.isArray(cleaned)) {
      target[attribute.name] = [...current, ...cleaned.filter((v) => !current.some((c) => sameJson(c, v)))];
    } else if (mode === 'add' && isObject(current) && isObject(cleaned)) {
      target[attribute.name] = { ...current, ...cleaned };
    } else {
      target[attribute.name] = cleaned;
    }
  };

  /** A key of a path-less value as a declared attribute, or `undefined` for one the schema does not declare. */
  const declared = (key: string): ResolvedPath | undefined => {
    try {
      return resolvePath(schema, parseAttributePath(key, schemaUrns(schema)));
    } catch {
      return undefined;
    }
  };

  /** A path-less add or replace: each key of the value is a path (Entra sends dotted and URN keys). */
  const setMany = (value: unknown, mode: 'add' | 'replace') => {
    if (!isObject(value)) throw new ScimError(400, 'invalidValue', `A ${mode} without a path takes an object.`);
    for (const key of Object.keys(value)) {
      const v = value[key];
      if (key.toLowerCase() === 'schemas') continue;
      // Entra: a key may itself be a filtered path, `"emails[type eq \"work\"].value": "…"`.
      if (key.includes('[')) {
        applyOne({ op: mode, path: key, value: v });
        continue;
      }
      const extension = extensionOf(schema, key);
      if (extension) {
        // An extension object: { "urn:…:enterprise:2.0:User": { "department": "…" } }.
        if (!isObject(v)) throw new ScimError(400, 'invalidValue', `"${extension.urn}" takes an object.`);
        for (const name of Object.keys(v)) {
          const path = resolvePath(schema, { schema: extension.urn, attribute: name });
          if (path) setAttribute(path, v[name], mode);
        }
        continue;
      }
      const path = declared(key);
      if (!path) continue;
      // Okta repeats the id in a path-less replace: a read-only attribute set to what it already is changes nothing.
      if (
        path.attribute.mutability === 'readOnly' &&
        !path.sub &&
        sameJson(own(containerOf(path.extension, false) ?? {}, path.attribute.name), v)
      ) {
        continue;
      }
      setAttribute(path, v, mode);
    }
  };

  /** For add-on-miss: the element a filter of `eq` conditions joined by `and` describes. */
  const elementFrom = (filter: Filter, attribute: AttributeDefinition): JsonObject | undefined => {
    if (filter.op === 'eq' && filter.path.subAttribute === undefined && filter.path.schema === undefined) {
      const sub = subAttributes(attribute).get(filter.path.attribute.toLowerCase());
      return sub ? { [sub.name]: filter.value } : undefined;
    }
    if (filter.op === 'and') {
      const left = elementFrom(filter.left, attribute);
      const right = elementFrom(filter.right, attribute);
      return left && right ? { ...left, ...right } : undefined;
    }
    return undefined;
  };

  const remove = (target: Extract<PatchTarget, { kind: 'attribute' }>, value: unknown) => {
    const { path, filter, subAttribute } = target;
    const container = containerOf(path.extension, false);
    if (!container) return;
    const name = path.attribute.name;
    const current = own(container, name);
    if (filter) {
      if (!Array.isArray(current)) return;
      const hits = new Set(current.flatMap((item, i) => (matchesFilter(item, filter) ? [i] : [])));
      if (subAttribute === undefined) container[name] = current.filter((_, i) => !hits.has(i));
      else for (const i of hits) if (isObject(current[i])) delete (current[i] as JsonObject)[subAttribute.name];
      return;
    }
    if (path.sub) {
      const items = Array.isArray(current) ? current : [current];
      for (const item of items) if (isObject(item)) delete item[path.sub.name];
    } else if (Array.isArray(current) && value !== undefined && value !== null) {
      // Entra: remove these members (by value), never all of them.
      const values = (Array.isArray(value) ? value : [value]).map((v) => (isObject(v) ? own(v, 'value') : v));
      container[name] = current.filter((item) => !values.includes(isObject(item) ? own(item, 'value') : item));
    } else {
      delete container[name];
    }
  };

  function applyOne(operation: PatchOperation): void {
    if (operation.path === undefined) {
      if (operation.op === 'remove') throw new ScimError(400, 'noTarget', 'A remove needs a path.');
      setMany(operation.value, operation.op);
      return;
    }
    const target = parsePatchPath(operation.path, schema);
    if (target.kind === 'extension') {
      if (operation.op === 'remove') delete result[target.urn];
      else setMany({ [target.urn]: operation.value }, operation.op);
      return;
    }
    guard(target.path);
    if (operation.op === 'remove') {
      remove(target, operation.value);
      return;
    }
    const { path, filter, subAttribute } = target;
    if (!filter) {
      setAttribute(path, operation.value, operation.op);
      return;
    }
    const container = containerOf(path.extension, true) as JsonObject;
    const name = path.attribute.name;
    const current = own(container, name);
    const list = Array.isArray(current) ? [...current] : [];
    const hits = list.flatMap((item, i) => (matchesFilter(item, filter) ? [i] : []));
    const element = (value: unknown) => cleanValue(path.attribute, value, name, clean, true);
    if (hits.length === 0) {
      const described = elementFrom(filter, path.attribute);
      if (!described) {
        throw new ScimError(
          400,
          'noTarget',
          `No value of "${name}" matches the filter in "${operation.path.slice(0, 200)}".`,
        );
      }
      const added = subAttribute
        ? { ...described, [subAttribute.name]: operation.value }
        : { ...described, ...(isObject(operation.value) ? operation.value : {}) };
      const cleaned = element(added);
      if (cleaned !== undefined) list.push(cleaned);
      container[name] = list;
      return;
    }
    for (const i of hits) {
      const item = list[i];
      if (subAttribute) {
        const value = cleanValue(subAttribute, operation.value, `${name}.${subAttribute.name}`, clean);
        const next = { ...(isObject(item) ? item : {}) };
        if (value === undefined) delete next[subAttribute.name];
        else next[subAttribute.name] = value;
        list[i] = next;
      } else {
        const value = element(operation.value);
        list[i] = operation.op === 'add' && isObject(item) && isObject(value) ? { ...item, ...value } : value;
      }
    }
    container[name] = list.filter((item) => item !== undefined);
  }

  for (const operation of operations) applyOne(operation);
  const extensions = [...schema.extensions.values()].map((e) => e.urn).filter((urn) => isObject(own(result, urn)));
  return { schemas: [schema.core, ...extensions], ...result };
}
