/**
 * One-shot digests. `crypto.hash` (Node 20.12+) hashes a string without building a `Hash` object,
 * about twice as fast as `createHash().update().digest()` on short inputs, which the SCIM server
 * pays per request (the bearer token) and per write (the fingerprint); older Node 20 releases
 * fall back to `createHash`.
 */
import * as crypto from 'node:crypto';

type OneShot = (algorithm: string, data: string, encoding: 'base64url') => string;
const oneShot = (crypto as { hash?: OneShot }).hash;

/** The base64url digest of a UTF-8 string. */
export function digestBase64url(algorithm: 'sha1' | 'sha256', data: string): string {
  return oneShot
    ? oneShot(algorithm, data, 'base64url')
    : crypto.createHash(algorithm).update(data, 'utf8').digest('base64url');
}
