/**
 * Typed access to an app-declared SCIM extension's values in a handler.
 *
 * The SCIM server stores a user's SCIM attributes, extensions included, in `user.attributes.scim`,
 * checked against the declared schema on every write (types, canonical values, required, readOnly).
 * `defineScimExtension` keeps the declaration's literal types, so `scimExtensionOf(user, acme)`
 * answers `{ badgeNumber: number; clearance?: string; … }` instead of `unknown`.
 */
import type { DirectoryUser } from '../model.js';
import type { ScimAttributeInput, ScimSchemaExtension } from './schema.js';

type Scalar<A> = A extends { readonly type: 'boolean' }
  ? boolean
  : A extends { readonly type: 'integer' | 'decimal' }
    ? number
    : A extends { readonly type: 'complex'; readonly subAttributes: infer S extends readonly ScimAttributeInput[] }
      ? ScimAttributeValues<S>
      : string;

type Value<A> = A extends { readonly multiValued: true } ? Scalar<A>[] : Scalar<A>;

/** The values a list of attribute declarations describes: required ones present, the others optional. */
export type ScimAttributeValues<L extends readonly ScimAttributeInput[]> = {
  [A in L[number] as A extends { readonly required: true } ? A['name'] : never]: Value<A>;
} & {
  [A in L[number] as A extends { readonly required: true } ? never : A['name']]?: Value<A>;
};

/** The values of extension `E` as the SCIM server stores them. */
export type ScimExtensionValues<E extends ScimSchemaExtension> = ScimAttributeValues<E['attributes']>;

/**
 * Declares a User schema extension for `createScimServer({ schemaExtensions: [acme] })`, keeping
 * its literal types for `scimExtensionOf`. It returns the declaration as given (checked when the
 * server is created).
 */
export function defineScimExtension<const E extends ScimSchemaExtension>(extension: E): E {
  return extension;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The values of `extension` a user holds, typed from its declaration; `undefined` when the user has
 * none (a user from Scalekit, or one whose IdP sends no value of it). Read-only: the handler gets
 * the user as delivered.
 */
export function scimExtensionOf<const E extends ScimSchemaExtension>(
  user: Pick<DirectoryUser, 'attributes'>,
  extension: E,
): Readonly<ScimExtensionValues<E>> | undefined {
  const attributes = user.attributes as unknown;
  if (!isRecord(attributes) || !Object.hasOwn(attributes, 'scim')) return undefined;
  const scim = attributes.scim;
  if (!isRecord(scim)) return undefined;
  // Stored under the URN as declared; a URN compares case-insensitively (RFC 8141), so look further if needed.
  const wanted = extension.id.toLowerCase();
  const key = Object.hasOwn(scim, extension.id)
    ? extension.id
    : Object.keys(scim).find((candidate) => candidate.toLowerCase() === wanted);
  const values = key === undefined ? undefined : scim[key];
  return isRecord(values) ? (values as ScimExtensionValues<E>) : undefined;
}
