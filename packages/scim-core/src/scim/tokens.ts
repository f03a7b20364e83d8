/**
 * SCIM bearer tokens, one or more per organization (several at once, so a tenant can rotate without
 * downtime). Only a SHA-256 digest of each token is kept: a leaked configuration or database row
 * does not leak a token. A presented token is hashed and found by its digest, then compared with
 * `timingSafeEqual`, so the comparison takes the same time whatever the token.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ScimError } from './errors.js';

export interface ScimTokenEntry {
  readonly organizationId: string;
  /** `hashScimToken(token)`; never the token itself. */
  readonly tokenHash: string;
}

const PREFIX = 'sha256:';

/** The digest to store for a token (`sha256:` + base64url). */
export function hashScimToken(token: string): string {
  return PREFIX + createHash('sha256').update(token, 'utf8').digest('base64url');
}

/** A new random token (256 bits) to hand to an identity provider, and its digest to store. */
export function generateScimToken(): { token: string; tokenHash: string } {
  const token = `scim_${randomBytes(32).toString('base64url')}`;
  return { token, tokenHash: hashScimToken(token) };
}

export interface ScimAuthenticator {
  /** The organization a request's `Authorization` header belongs to; a 401 `ScimError` otherwise. */
  authenticate(authorization: string | null | undefined): string;
}

/** Authenticates against a fixed set of token digests. */
export function scimTokenAuthenticator(entries: Iterable<ScimTokenEntry>): ScimAuthenticator {
  const byHash = new Map<string, { organizationId: string; digest: Buffer }>();
  for (const { organizationId, tokenHash } of entries) {
    if (!tokenHash.startsWith(PREFIX)) {
      throw new TypeError(
        `A SCIM token hash starts with "${PREFIX}" (use hashScimToken); got one for ${organizationId} that does not.`,
      );
    }
    byHash.set(tokenHash, { organizationId, digest: Buffer.from(tokenHash.slice(PREFIX.length), 'base64url') });
  }
  const unauthorized = (detail: string) => new ScimError(401, undefined, detail);
  return {
    authenticate(authorization) {
      if (!authorization) throw unauthorized('Send the SCIM bearer token in an Authorization header.');
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!match?.[1]) throw unauthorized('The Authorization header is not "Bearer <token>".');
      const presented = hashScimToken(match[1]);
      const entry = byHash.get(presented);
      const digest = Buffer.from(presented.slice(PREFIX.length), 'base64url');
      // Compare the digests in constant time even when the lookup found nothing (against itself).
      const same = timingSafeEqual(entry?.digest ?? digest, digest);
      if (!entry || !same) throw unauthorized('The bearer token is not valid.');
      return entry.organizationId;
    },
  };
}
