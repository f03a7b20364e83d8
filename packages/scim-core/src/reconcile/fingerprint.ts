/**
 * Fingerprints: a short digest of a user's or group's normalized state, so a reconciliation can
 * tell "unchanged" from one string comparison instead of loading and comparing the stored row.
 *
 * The digest is of a canonical JSON form (keys sorted at every depth), so the same state gives the
 * same fingerprint whichever path delivered it and however a database reorders JSON keys.
 */
import { configure } from 'safe-stable-stringify';
import { digestBase64url } from '../hash.js';
import type { DirectoryGroup, DirectoryUser } from '../model.js';

const canonicalJson = configure({ deterministic: true, bigint: false, circularValue: Error });

function digest(value: unknown): string {
  return digestBase64url('sha1', canonicalJson(value) ?? '');
}

/** The fingerprint of a user; stores return it from `getUserFingerprints`. */
export function fingerprintUser(user: DirectoryUser): string {
  return digest(user);
}

/** The fingerprint of a group; stores return it from `getGroupFingerprints`. */
export function fingerprintGroup(group: DirectoryGroup): string {
  return digest(group);
}
