/**
 * Rows ↔ model: what every driver hands back, turned into the engine's types. Drivers differ in
 * what a column comes back as (mysql2: a `Buffer` for VARBINARY, a string for a BIGINT cast to
 * text; better-sqlite3: a `bigint` for every integer), so each reader accepts all of them.
 */
import type { DirectoryGroup, DirectoryUser, ResourceVersion } from '@org/scim-core';
import { fingerprintGroup, fingerprintUser, userNameKey } from '@org/scim-core';
import type { SqlRow } from './dialect.js';

/** A text column: binary columns come back as bytes of UTF-8. */
export function text(value: unknown): string {
  return Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
}

export function textOrNull(value: unknown): string | null {
  return value === null || value === undefined ? null : text(value);
}

/** A JSON column, stored as text (see the dialects for why), or already parsed by the driver. */
export function json<T>(value: unknown): T {
  if (typeof value === 'string') return JSON.parse(value) as T;
  if (Buffer.isBuffer(value)) return JSON.parse(value.toString('utf8')) as T;
  return value as T;
}

/** A count or a millisecond time: small enough for a number whatever the driver returned. */
export function int(value: unknown): number {
  return Number(value);
}

/** A BOOLEAN / TINYINT / INTEGER flag. */
export function flag(value: unknown): boolean {
  return Number(value) === 1;
}

/** A version row (its BIGINT columns read through `dialect.bigintColumn`: text or `bigint`, never a rounded number). */
export function toVersion(row: SqlRow): ResourceVersion {
  return {
    at: BigInt(row.at as string | bigint),
    eventId: text(row.event_id),
    deleted: flag(row.deleted),
    ...(row.created_at !== null && row.created_at !== undefined && { createdAt: BigInt(row.created_at as string) }),
  };
}

/** The `users` columns of a user, in `USER_COLUMNS` order. */
export const USER_COLUMNS = [
  'organization_id',
  'id',
  'external_id',
  'user_name_key',
  'email_lower',
  'fingerprint',
  'body',
] as const;

export function userRow(user: DirectoryUser): unknown[] {
  return [
    user.organizationId,
    user.id,
    user.externalId ?? null,
    user.userName === undefined ? null : userNameKey(user.userName),
    user.email === undefined ? null : user.email.toLowerCase(),
    fingerprintUser(user),
    JSON.stringify(user),
  ];
}

export const GROUP_COLUMNS = [
  'organization_id',
  'id',
  'display_name_lower',
  'external_id',
  'fingerprint',
  'body',
] as const;

export function groupRow(group: DirectoryGroup): unknown[] {
  return [
    group.organizationId,
    group.id,
    group.displayName.toLowerCase(),
    group.externalId ?? null,
    fingerprintGroup(group),
    JSON.stringify(group),
  ];
}
