/**
 * What one SCIM request may ask of the server. Every request has a bounded cost: a filter, a path
 * or a body beyond these is refused with a 4xx before any work that grows with it, so one request
 * cannot hold the event loop or grow the heap by more than a small, known amount.
 *
 * The defaults are far above what Okta, Microsoft Entra ID and the public SCIM validators send
 * (a filter of one or two comparisons, paths under 100 characters, a PATCH of a few operations,
 * resources of a few KiB), and low enough that the worst request of each kind costs milliseconds
 * at 100,000 users. `ServiceProviderConfig` reports the ones RFC 7644 has a field for.
 */
export interface ScimLimits {
  /** Characters in a `filter` (query or PATCH path). Default 2,048. */
  readonly maxFilterLength: number;
  /** Comparisons (`eq`, `pr`, …) in one filter. Each costs one evaluation per scanned row. Default 32. */
  readonly maxFilterTerms: number;
  /** Nesting of parentheses, `not (…)` and `[…]` in a filter. Default 10. */
  readonly maxFilterDepth: number;
  /** Characters in an attribute path: a PATCH `path`, `sortBy`, one name of `attributes`. Default 512. */
  readonly maxPathLength: number;
  /** Names in `attributes` or `excludedAttributes`. Default 64. */
  readonly maxAttributeNames: number;
  /** Operations in one PATCH. Default 100 (Okta puts up to 256 members in one operation; Entra sends one or a few). */
  readonly maxPatchOperations: number;
  /**
   * Values in one PATCH operation: the elements of its `value` array (`members` to add or remove),
   * or of each array in a path-less `value` object. Each member added or removed is one user event.
   * Default 1,000: Okta's Push Groups sends at most 256 members in one operation, Entra a few.
   */
  readonly maxOperationValues: number;
  /** Nesting of objects and arrays in a request body. A SCIM resource is at most 4 deep. Default 32. */
  readonly maxJsonDepth: number;
  /** Characters in any string value. Default 4,096. */
  readonly maxStringLength: number;
  /**
   * Characters in a value that is indexed or compared as a key: `userName` (and its folded form),
   * `externalId`, a group's `displayName`, `emails.value`, member ids. Default 256: a database
   * index entry stays far below PostgreSQL's btree row limit (about 2.7 KB) and MySQL's 3,072 bytes.
   */
  readonly maxIdentifierLength: number;
  /** Bytes of a resource as stored (its JSON). Default 64 KiB; a list of 200 stays near 13 MB. */
  readonly maxResourceBytes: number;
}

export const DEFAULT_SCIM_LIMITS: ScimLimits = Object.freeze({
  maxFilterLength: 2048,
  maxFilterTerms: 32,
  maxFilterDepth: 10,
  maxPathLength: 512,
  maxAttributeNames: 64,
  maxPatchOperations: 100,
  maxOperationValues: 1000,
  maxJsonDepth: 32,
  maxStringLength: 4096,
  maxIdentifierLength: 256,
  maxResourceBytes: 64 * 1024,
});

/** Keys that are never read or written as attributes, whatever the schema says. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
