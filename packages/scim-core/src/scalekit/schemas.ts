/**
 * zod schemas for what Scalekit sends to a webhook endpoint.
 *
 * Every object schema is loose: Scalekit adds keys (`display_name`, new profile fields) without
 * notice, and a receiver that rejected unknown keys would turn an additive change into lost
 * events. Types are inferred from these schemas and never written by hand.
 */
import { z } from 'zod';
import { parseRfc3339Nanos } from '../time.js';

const optionalString = z.string().nullish();

/**
 * Longest id, email, username or name a store indexes: 256 characters keep an index entry far below
 * PostgreSQL's btree row limit (about 2.7 KB) and MySQL's 3,072 bytes, so an oversized value is a
 * 400 at the door rather than a database error (a 500, redelivered until Scalekit gives up).
 */
export const MAX_IDENTIFIER_LENGTH = 256;
const identifier = z.string().min(1).max(MAX_IDENTIFIER_LENGTH);
const optionalIdentifier = z.string().max(MAX_IDENTIFIER_LENGTH).nullish();

/** RFC 3339 with up to nine fractional digits; compared as nanoseconds, never as strings. */
export const rfc3339Schema = z.string().refine((value) => parseRfc3339Nanos(value) !== undefined, {
  message: 'expected an RFC 3339 date-time with at most 9 fractional digits',
});

export const scalekitUserGroupSchema = z.looseObject({
  id: identifier,
  name: optionalIdentifier,
});

export const scalekitRoleSchema = z.looseObject({
  role_name: identifier,
});

export const scalekitAddressSchema = z.looseObject({
  formatted: optionalString,
  street_address: optionalString,
  locality: optionalString,
  region: optionalString,
  state: optionalString,
  postal_code: optionalString,
  country: optionalString,
});

/** `data` of `organization.directory.user_created` / `user_updated`. */
export const scalekitDirectoryUserSchema = z.looseObject({
  id: identifier,
  organization_id: identifier,
  dp_id: optionalIdentifier,
  email: optionalIdentifier,
  preferred_username: optionalIdentifier,
  active: z.boolean().nullish(),
  name: optionalString,
  given_name: optionalString,
  family_name: optionalString,
  nickname: optionalString,
  picture: optionalString,
  phone_number: optionalString,
  address: scalekitAddressSchema.nullish(),
  employee_id: optionalString,
  department: optionalString,
  cost_center: optionalString,
  division: optionalString,
  title: optionalString,
  user_type: optionalString,
  language: optionalString,
  locale: optionalString,
  zoneinfo: optionalString,
  organization: optionalString,
  profile: optionalString,
  groups: z.array(scalekitUserGroupSchema).nullish(),
  roles: z.array(scalekitRoleSchema).nullish(),
  custom_attributes: z.record(z.string(), z.unknown()).nullish(),
  raw_attributes: z.record(z.string(), z.unknown()).nullish(),
});

/** `data` of `organization.directory.user_deleted`: only the identifiers. */
export const scalekitDeletedUserSchema = z.looseObject({
  id: identifier,
  organization_id: identifier,
  dp_id: optionalIdentifier,
  email: optionalIdentifier,
});

/** `data` of the three group events. `group_deleted` shows `dp_id` where the others show `external_id`. */
export const scalekitDirectoryGroupSchema = z.looseObject({
  id: identifier,
  organization_id: identifier,
  directory_id: optionalIdentifier,
  display_name: optionalIdentifier,
  external_id: optionalIdentifier,
  dp_id: optionalIdentifier,
  raw_attributes: z.record(z.string(), z.unknown()).nullish(),
});

/** `data` of `organization.directory_enabled` / `organization.directory_disabled`. */
export const scalekitDirectorySchema = z.looseObject({
  id: identifier,
  organization_id: identifier,
  directory_type: optionalString,
  provider: optionalString,
  enabled: z.boolean().nullish(),
  updated_at: optionalString,
  last_sync_at: optionalString,
  status: optionalString,
});

const envelopeShape = {
  spec_version: z.string(),
  id: identifier,
  occurred_at: rfc3339Schema,
  environment_id: z.string(),
  organization_id: optionalString,
  object: z.string(),
};

function directoryEvent<const T extends string, D extends z.ZodType>(type: T, object: string, data: D) {
  return z.looseObject({ ...envelopeShape, type: z.literal(type), object: z.literal(object), data });
}

/** The eight `organization.directory*` event types, discriminated by `type`. */
export const scalekitDirectoryEventSchema = z.discriminatedUnion('type', [
  directoryEvent('organization.directory_enabled', 'Directory', scalekitDirectorySchema),
  directoryEvent('organization.directory_disabled', 'Directory', scalekitDirectorySchema),
  directoryEvent('organization.directory.user_created', 'DirectoryUser', scalekitDirectoryUserSchema),
  directoryEvent('organization.directory.user_updated', 'DirectoryUser', scalekitDirectoryUserSchema),
  directoryEvent('organization.directory.user_deleted', 'DirectoryUser', scalekitDeletedUserSchema),
  directoryEvent('organization.directory.group_created', 'DirectoryGroup', scalekitDirectoryGroupSchema),
  directoryEvent('organization.directory.group_updated', 'DirectoryGroup', scalekitDirectoryGroupSchema),
  directoryEvent('organization.directory.group_deleted', 'DirectoryGroup', scalekitDirectoryGroupSchema),
]);

/** Any other event on the same endpoint (`organization.created`, `user.*`, `role.*`, …): the envelope, with `data` left as delivered. */
export const scalekitOtherEventSchema = z.looseObject({
  ...envelopeShape,
  type: z.string().min(1),
  data: z.unknown(),
});

export type ScalekitDirectoryEvent = z.infer<typeof scalekitDirectoryEventSchema>;
export type ScalekitDirectoryEventType = ScalekitDirectoryEvent['type'];
export type ScalekitOtherEvent = z.infer<typeof scalekitOtherEventSchema>;
export type ScalekitDirectoryUser = z.infer<typeof scalekitDirectoryUserSchema>;
export type ScalekitDeletedUser = z.infer<typeof scalekitDeletedUserSchema>;
export type ScalekitDirectoryGroup = z.infer<typeof scalekitDirectoryGroupSchema>;
export type ScalekitDirectory = z.infer<typeof scalekitDirectorySchema>;

/** Event types whose payload this package understands and maps into the normalized model. */
export const SCALEKIT_DIRECTORY_EVENT_TYPES: ReadonlySet<string> = new Set<ScalekitDirectoryEventType>(
  scalekitDirectoryEventSchema.options.map((option) => option.shape.type.value),
);

/** A parsed webhook payload: a directory event, or any other type passed through untouched. */
export type ScalekitEvent =
  | { kind: 'directory'; event: ScalekitDirectoryEvent }
  | { kind: 'other'; event: ScalekitOtherEvent };

export type ScalekitParseResult =
  | { success: true; value: ScalekitEvent }
  | { success: false; issues: readonly z.core.$ZodIssue[] };

/**
 * Parses an already-verified, already-`JSON.parse`d webhook body. Directory event types are held
 * to their schema; any other type only needs a valid envelope.
 */
export function parseScalekitEvent(body: unknown): ScalekitParseResult {
  const type = typeof body === 'object' && body !== null ? (body as { type?: unknown }).type : undefined;
  if (typeof type === 'string' && SCALEKIT_DIRECTORY_EVENT_TYPES.has(type)) {
    const result = scalekitDirectoryEventSchema.safeParse(body);
    return result.success
      ? { success: true, value: { kind: 'directory', event: result.data } }
      : { success: false, issues: result.error.issues };
  }
  const result = scalekitOtherEventSchema.safeParse(body);
  return result.success
    ? { success: true, value: { kind: 'other', event: result.data } }
    : { success: false, issues: result.error.issues };
}
