/**
 * The attributes a resource type declares, as the server reads and writes them: every attribute
 * path (in a filter, a PATCH, `sortBy`, `attributes`) is resolved here to a declared attribute, and
 * every body is rebuilt from its declared attributes only. A name no schema declares is never used
 * as a key, so input can never reach an object's prototype (`__proto__:x`, `name.toString`,
 * `constructor pr`) and nothing the server stores is shaped by the client beyond the schema.
 *
 * Names match case-insensitively (RFC 7643 §2.1) and are written in the schema's own spelling.
 */

import { z } from 'zod';
import { describeValue, expecting, OptionsError, optionalBoolean } from '../options.js';
import {
  type AttributeDefinition,
  attribute,
  COMMON_ATTRIBUTES,
  ENTERPRISE_USER_ATTRIBUTES,
  GROUP_ATTRIBUTES,
  SCHEMAS,
  USER_ATTRIBUTES,
} from './discovery.js';
import { ScimError } from './errors.js';
import { type AttributePath, type Filter, formatAttributePath } from './filter.js';
import { FORBIDDEN_KEYS, type ScimLimits } from './limits.js';

type JsonObject = Record<string, unknown>;

/** A schema's attributes by lower-cased name. A `Map`, so input names are looked up, never indexed. */
export type AttributeIndex = ReadonlyMap<string, AttributeDefinition>;

export interface ResourceSchema {
  /** `User` or `Group`. */
  readonly name: string;
  /** The core schema's URN. */
  readonly core: string;
  /** The core schema's attributes and the common ones (`id`, `externalId`, `meta`). */
  readonly attributes: AttributeIndex;
  /** Extension schemas by lower-cased URN. */
  readonly extensions: ReadonlyMap<string, { readonly urn: string; readonly attributes: AttributeIndex }>;
  /** Lower-cased dotted names whose strings are keys (indexed or compared): capped at `maxIdentifierLength`. */
  readonly identifiers: ReadonlySet<string>;
}

/** An attribute path resolved against a schema: the declared attribute and, if any, sub-attribute. */
export interface ResolvedPath {
  /** The extension's URN, for an attribute of an extension. */
  readonly extension?: string;
  readonly attribute: AttributeDefinition;
  readonly sub?: AttributeDefinition;
}

export function indexAttributes(attributes: readonly AttributeDefinition[]): AttributeIndex {
  return new Map(attributes.map((a) => [a.name.toLowerCase(), a]));
}

/** Built once per definition: every value of a complex attribute (each email, each member) looks up its sub-attributes here. */
const subIndexes = new WeakMap<AttributeDefinition, AttributeIndex>();

export function subAttributes(attribute: AttributeDefinition): AttributeIndex {
  let index = subIndexes.get(attribute);
  if (index === undefined) {
    index = indexAttributes(attribute.subAttributes ?? []);
    subIndexes.set(attribute, index);
  }
  return index;
}

/** Every URN a path of this resource type may start with: the core schema's and its extensions'. */
export function schemaUrns(schema: ResourceSchema): string[] {
  let urns = urnsBySchema.get(schema);
  if (!urns) {
    urns = Object.freeze([schema.core, ...[...schema.extensions.values()].map((e) => e.urn)]) as string[];
    urnsBySchema.set(schema, urns);
  }
  return urns;
}

/** A schema's URNs, computed once: every filter, `sortBy` and `attributes` of every request needs them. */
const urnsBySchema = new WeakMap<ResourceSchema, string[]>();

/** The extension a URN names (any case), if this resource type declares it. */
export function extensionOf(schema: ResourceSchema, urn: string) {
  return schema.extensions.get(urn.toLowerCase());
}

/** The declared attribute `path` names, or `undefined`. */
export function resolvePath(schema: ResourceSchema, path: AttributePath): ResolvedPath | undefined {
  let index = schema.attributes;
  let extension: string | undefined;
  if (path.schema !== undefined && path.schema.toLowerCase() !== schema.core.toLowerCase()) {
    const declared = extensionOf(schema, path.schema);
    if (!declared) return undefined;
    index = declared.attributes;
    extension = declared.urn;
  }
  const attribute = index.get(path.attribute.toLowerCase());
  if (!attribute) return undefined;
  if (path.subAttribute === undefined) return extension !== undefined ? { extension, attribute } : { attribute };
  const sub = subAttributes(attribute).get(path.subAttribute.toLowerCase());
  if (!sub) return undefined;
  return extension !== undefined ? { extension, attribute, sub } : { attribute, sub };
}

/** The lower-cased dotted name of a resolved path without its schema (`emails.value`), as `caseExact` takes it. */
export function dottedName(path: ResolvedPath): string {
  return (path.sub ? `${path.attribute.name}.${path.sub.name}` : path.attribute.name).toLowerCase();
}

/** What a body's values are checked against: the limits, and whether a bad value is an error or dropped. */
export interface SanitizeOptions {
  readonly limits: Pick<ScimLimits, 'maxStringLength' | 'maxIdentifierLength'>;
  /**
   * `input`: a value of the wrong type is a 400 (`invalidValue`). `stored`: it is dropped (what a
   * store holds is rendered from its declared attributes only, whatever an older version wrote).
   */
  readonly mode: 'input' | 'stored';
  /** The resource type's `identifiers`. */
  readonly identifiers: ReadonlySet<string>;
}

/** RFC 7643 §2.3.5: xsd:dateTime, with a time zone or without, fractional seconds of any length. */
const DATE_TIME = /^-?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})?$/;
const isDateTime = (value: string): boolean =>
  DATE_TIME.test(value) && !Number.isNaN(Date.parse(value.replace(/(\.\d{3})\d+/, '$1')));

/** Marks "drop this value" inside the sanitizer. */
const DROP = Symbol('drop');

/**
 * One attribute's value, checked against its definition: `null` is "no value" (RFC 7643 §2.5), a
 * boolean may arrive as `"True"`/`"False"` (Entra), a multi-valued attribute may arrive as one
 * value, and a complex value keeps only its declared sub-attributes. Throws a `ScimError` in
 * `input` mode; answers `DROP` in `stored` mode.
 */
function clean(
  definition: AttributeDefinition,
  value: unknown,
  name: string,
  options: SanitizeOptions,
  element = false,
): unknown {
  if (value === null || value === undefined) return DROP;
  const fail = (expected: string) => {
    if (options.mode === 'stored') return DROP;
    throw new ScimError(400, 'invalidValue', `"${name}" must be ${expected}.`);
  };
  if (definition.multiValued && !element) {
    const items = Array.isArray(value) ? value : [value];
    const out: unknown[] = [];
    for (const item of items) {
      const cleaned = clean(definition, item, name, options, true);
      if (cleaned !== DROP) out.push(cleaned);
    }
    return out;
  }
  switch (definition.type) {
    case 'complex': {
      const subs = subAttributes(definition);
      // A multi-valued attribute's element given as its bare value (`"members": ["id"]`, `"roles": ["admin"]`).
      if (
        element &&
        subs.has('value') &&
        (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean')
      ) {
        return cleanObject(subs, { value }, name, options);
      }
      if (typeof value !== 'object' || Array.isArray(value)) return fail('an object');
      return cleanObject(subs, value as JsonObject, name, options);
    }
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
      return fail('a boolean');
    case 'integer':
      return Number.isSafeInteger(value) ? value : fail('an integer');
    case 'decimal':
      return typeof value === 'number' && Number.isFinite(value) ? value : fail('a number');
    default: {
      if (typeof value !== 'string') return fail('a string');
      const max = options.identifiers.has(name.toLowerCase())
        ? options.limits.maxIdentifierLength
        : options.limits.maxStringLength;
      if (value.length > max) return fail(`at most ${max} characters`);
      if (definition.type === 'dateTime' && !isDateTime(value)) {
        return fail('an xsd:dateTime such as 2026-01-31T09:30:00Z');
      }
      const canonical = definition.canonicalValues;
      if (canonical !== undefined && canonical.length > 0) {
        const found = definition.caseExact
          ? canonical.find((allowed) => allowed === value)
          : canonical.find((allowed) => allowed.toLowerCase() === value.toLowerCase());
        if (found === undefined) return fail(`one of ${canonical.map((c) => JSON.stringify(c)).join(', ')}`);
        return found;
      }
      return value;
    }
  }
}

function cleanObject(index: AttributeIndex, value: JsonObject, prefix: string, options: SanitizeOptions): JsonObject {
  const out: JsonObject = {};
  for (const key of Object.keys(value)) {
    const definition = index.get(key.toLowerCase());
    if (!definition) continue;
    const cleaned = clean(definition, value[key], prefix ? `${prefix}.${definition.name}` : definition.name, options);
    if (cleaned !== DROP) out[definition.name] = cleaned;
  }
  return out;
}

/** One attribute's value checked against its definition, or `undefined` when it is no value (`null`, or dropped). */
export function cleanValue(
  definition: AttributeDefinition,
  value: unknown,
  name: string,
  options: SanitizeOptions,
  element = false,
): unknown {
  const cleaned = clean(definition, value, name, options, element);
  return cleaned === DROP ? undefined : cleaned;
}

const isEmptyList = (value: unknown): boolean => Array.isArray(value) && value.length === 0;

/**
 * A resource body rebuilt from what its schema declares: core attributes by their declared
 * names, each declared extension as an object under its URN. Every other key (an undeclared
 * attribute or extension, `schemas`, anything prototype-shaped) is left out. Values are checked
 * as `cleanValue` does.
 */
export function sanitizeResource(schema: ResourceSchema, body: JsonObject, options: SanitizeOptions): JsonObject {
  const out = cleanObject(schema.attributes, body, '', options);
  for (const key of Object.keys(body)) {
    const extension = extensionOf(schema, key);
    const value = body[key];
    if (!extension || value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) {
      if (options.mode === 'input') throw new ScimError(400, 'invalidValue', `"${extension.urn}" must be an object.`);
      continue;
    }
    const cleaned = cleanObject(extension.attributes, value as JsonObject, '', options);
    if (options.mode === 'input') {
      for (const definition of new Set(extension.attributes.values())) {
        // RFC 7643 §2.2: a client's value of a readOnly attribute is ignored, not stored.
        if (definition.mutability === 'readOnly') delete cleaned[definition.name];
        else if (
          definition.required &&
          (cleaned[definition.name] === undefined || isEmptyList(cleaned[definition.name]))
        ) {
          throw new ScimError(400, 'invalidValue', `"${extension.urn}:${definition.name}" is required.`);
        }
      }
    }
    if (Object.keys(cleaned).length > 0) out[extension.urn] = cleaned;
  }
  return out;
}

/**
 * Checks that every attribute a filter names is declared (RFC 7644 §3.4.2.2 filters on attributes
 * of the resource type): throws a 400 `invalidFilter` naming the first that is not. Inside a value
 * filter (`emails[type eq "work"]`), names are sub-attributes of the filtered attribute.
 */
export function checkFilter(schema: ResourceSchema, filter: Filter, within?: AttributeDefinition): void {
  const unknown = (path: AttributePath) =>
    new ScimError(
      400,
      'invalidFilter',
      `The filter names "${formatAttributePath(path).slice(0, 200)}", which the ${schema.name} schema does not declare.`,
    );
  switch (filter.op) {
    case 'and':
    case 'or':
      checkFilter(schema, filter.left, within);
      checkFilter(schema, filter.right, within);
      return;
    case 'not':
      checkFilter(schema, filter.filter, within);
      return;
    case 'valuePath': {
      const resolved = resolvePath(schema, filter.path);
      if (resolved?.attribute.type !== 'complex') throw unknown(filter.path);
      checkFilter(schema, filter.filter, resolved.attribute);
      return;
    }
    default: {
      if (within === undefined) {
        if (!resolvePath(schema, filter.path)) throw unknown(filter.path);
        return;
      }
      const inside = filter.path.schema === undefined && filter.path.subAttribute === undefined;
      if (!inside || !subAttributes(within).has(filter.path.attribute.toLowerCase())) throw unknown(filter.path);
    }
  }
}

/** An attribute of a schema extension, with RFC 7643 §2.2's defaults for what it leaves out. */
export type ScimAttributeInput = Partial<Omit<AttributeDefinition, 'subAttributes'>> &
  Pick<AttributeDefinition, 'name'> & { readonly subAttributes?: readonly ScimAttributeInput[] };

/**
 * A User schema extension the app declares, such as the one an Entra or Okta custom-attribute
 * mapping sends (`urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User`). Only
 * declared schemas and attributes are stored, filtered or patched; anything else is left out.
 */
export interface ScimSchemaExtension {
  /** The schema URN. */
  readonly id: string;
  readonly name: string;
  readonly description?: string;
  readonly attributes: readonly ScimAttributeInput[];
}

const ATTRIBUTE_NAME = /^[A-Za-z$][\w$-]{0,127}$/;
const SCHEMA_URN = /^urn:[A-Za-z0-9][A-Za-z0-9-]{0,31}:[A-Za-z0-9()+,\-.:=@;$_!*'%/?#]{1,400}$/;

/** One of `values`, or a message listing them. */
const oneOf = <T extends string>(values: readonly [T, ...T[]]) =>
  z
    .enum(values, {
      error: (issue) => `must be one of ${values.join(', ')}, got ${describeValue(issue.input, { quoted: true })}`,
    })
    .optional();

const nameError = expecting('an attribute name: a letter, then letters, digits, "_", "$" or "-"');
const attributeInput: z.ZodType = z.lazy(() =>
  z.object(
    {
      name: z.string(nameError).refine((name) => ATTRIBUTE_NAME.test(name) && !FORBIDDEN_KEYS.has(name), nameError),
      type: oneOf(['string', 'boolean', 'complex', 'reference', 'dateTime', 'integer', 'decimal', 'binary']),
      multiValued: optionalBoolean,
      required: optionalBoolean,
      caseExact: optionalBoolean,
      mutability: oneOf(['readOnly', 'readWrite', 'immutable', 'writeOnly']),
      returned: oneOf(['always', 'never', 'default', 'request']),
      uniqueness: oneOf(['none', 'server', 'global']),
      description: z.string(expecting('a string')).optional(),
      subAttributes: z.array(attributeInput, expecting('an array of attributes')).optional(),
      referenceTypes: z.array(z.string(expecting('a string')), expecting('an array of strings')).optional(),
      canonicalValues: z
        .array(z.string(expecting('a string')).max(256), expecting('an array of at most 100 strings'))
        .max(100, expecting('an array of at most 100 strings'))
        .optional(),
    },
    expecting('an attribute { name, type?, … }'),
  ),
);

const urnError = expecting('a schema URN, such as urn:ietf:params:scim:schemas:extension:CustomExtensionName:2.0:User');

/** `createScimServer`'s `schemaExtensions`, checked before `servedSchemas` builds them. */
export const schemaExtensionsOption = z
  .array(
    z.object(
      {
        id: z.string(urnError).regex(SCHEMA_URN, urnError),
        name: z.string(expecting('a non-empty string')).min(1, expecting('a non-empty string')),
        description: z.string(expecting('a string')).optional(),
        attributes: z.array(attributeInput, expecting('an array of attributes { name, type?, … }')),
      },
      expecting('a schema extension { id, name, attributes }'),
    ),
    expecting('an array of schema extensions { id, name, attributes }'),
  )
  .optional();

function defineAttribute(input: ScimAttributeInput): AttributeDefinition {
  const { subAttributes, ...rest } = input;
  return attribute({
    description: input.name,
    ...rest,
    ...(subAttributes !== undefined && {
      type: 'complex',
      subAttributes: subAttributes.map(defineAttribute),
    }),
  });
}

/** The schemas a server serves: built-in ones plus the app's User extensions. */
export interface ServedSchemas {
  readonly user: ResourceSchema;
  readonly group: ResourceSchema;
  /** The User extensions, as `/Schemas` lists them. */
  readonly userExtensions: readonly {
    id: string;
    name: string;
    description: string;
    attributes: readonly AttributeDefinition[];
  }[];
}

/**
 * Builds the schemas a server serves, from extensions `schemaExtensionsOption` accepted. Throws an
 * `OptionsError` for a schema declared twice.
 */
export function servedSchemas(extensions: readonly ScimSchemaExtension[] = []): ServedSchemas {
  const userExtensions = [
    {
      id: SCHEMAS.enterpriseUser,
      name: 'EnterpriseUser',
      description: 'Enterprise User',
      attributes: ENTERPRISE_USER_ATTRIBUTES,
    },
    ...extensions.map((e) => ({
      id: e.id,
      name: e.name,
      description: e.description ?? e.name,
      attributes: e.attributes.map(defineAttribute),
    })),
  ];
  const seen = new Set<string>();
  for (const [index, { id }] of userExtensions.entries()) {
    const lower = id.toLowerCase();
    if (seen.has(lower) || lower === SCHEMAS.user.toLowerCase() || lower === SCHEMAS.group.toLowerCase()) {
      // Index 0 is the built-in enterprise extension.
      throw new OptionsError('createScimServer', [
        { path: `options.schemaExtensions[${index - 1}].id`, message: `declares ${id}, which is already declared` },
      ]);
    }
    seen.add(lower);
  }
  const user: ResourceSchema = {
    name: 'User',
    core: SCHEMAS.user,
    attributes: indexAttributes([...COMMON_ATTRIBUTES, ...USER_ATTRIBUTES]),
    extensions: new Map(
      userExtensions.map((e) => [e.id.toLowerCase(), { urn: e.id, attributes: indexAttributes(e.attributes) }]),
    ),
    identifiers: new Set(['id', 'username', 'externalid', 'emails.value', 'groups.value']),
  };
  const group: ResourceSchema = {
    name: 'Group',
    core: SCHEMAS.group,
    attributes: indexAttributes([...COMMON_ATTRIBUTES, ...GROUP_ATTRIBUTES]),
    extensions: new Map(),
    identifiers: new Set(['id', 'displayname', 'externalid', 'members.value']),
  };
  return { user, group, userExtensions };
}

let builtIn: ServedSchemas | undefined;

/** The built-in schemas (no app extensions), built once: the default of the standalone helpers (`applyPatch`, `userFromScim`, …). */
export function builtInSchemas(): ServedSchemas {
  builtIn ??= servedSchemas();
  return builtIn;
}
