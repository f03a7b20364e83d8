/**
 * SCIM bearer tokens, one or more per organization (several at once, so a tenant can rotate without
 * downtime). Only a SHA-256 digest of each token is kept: a leaked configuration or database row
 * does not leak a token. A presented token is hashed and found by its digest, then compared with
 * `timingSafeEqual`, so the comparison takes the same time whatever the token.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { digestBase64url } from '../hash.js';
import { checkArgument, describeValue, type Report } from '../options.js';
import { ScimError } from './errors.js';

export interface ScimTokenEntry {
  readonly organizationId: string;
  /** `hashScimToken(token)`; never the token itself. */
  readonly tokenHash: string;
}

const PREFIX = 'sha256:';

function digestOf(token: string): string {
  return PREFIX + digestBase64url('sha256', token);
}

/** Never quotes the token: it is a credential. */
function checkToken(token: unknown, report: Report): void {
  if (token === undefined || token === null) {
    report(
      'is missing: pass the SCIM bearer token you gave the identity provider (make one with generateScimToken()); is the environment variable it comes from set?',
    );
  } else if (typeof token !== 'string') {
    report(`must be a string, got ${describeValue(token)}`);
  } else if (token.trim() === '') {
    report('is empty: pass the SCIM bearer token you gave the identity provider (make one with generateScimToken())');
  } else if (/\s/.test(token)) {
    report(
      'contains whitespace, which no "Authorization: Bearer <token>" header can carry: was it copied with a line break?',
    );
  }
}

/**
 * The digest to store for a token (`sha256:` + base64url). Throws an `OptionsError` for a missing,
 * empty or non-string token, which no request could present.
 */
export function hashScimToken(token: string): string {
  checkArgument('hashScimToken', 'token', token, checkToken);
  return digestOf(token);
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

const isIterable = (value: unknown): value is Iterable<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function';

const ENTRIES = '[{ organizationId, tokenHash: hashScimToken(token) }, …]';

/** Every entry has an organization and a digest, and no digest belongs to two organizations. */
function checkEntries(entries: unknown, report: Report): void {
  if (entries === undefined || entries === null) {
    report(`is missing: pass ${ENTRIES}, one or more per organization`);
    return;
  }
  if (!isIterable(entries)) {
    report(`must be a list ${ENTRIES}, got ${describeValue(entries)}`);
    return;
  }
  const owners = new Map<string, string>();
  let index = 0;
  for (const entry of entries) {
    const at = index++;
    if (typeof entry !== 'object' || entry === null) {
      report(`must be { organizationId, tokenHash }, got ${describeValue(entry)}`, at);
      continue;
    }
    const { organizationId, tokenHash } = entry as Record<string, unknown>;
    if (typeof organizationId !== 'string' || organizationId === '') {
      report(
        `must be the organization id the token provisions, got ${describeValue(organizationId)}`,
        at,
        'organizationId',
      );
      continue;
    }
    if (typeof tokenHash !== 'string' || !tokenHash.startsWith(PREFIX)) {
      // The token itself given where its digest belongs is the likely mistake: say so, never quote it.
      report(
        `must start with "${PREFIX}" (use hashScimToken(token)); the one for ${organizationId} ${typeof tokenHash === 'string' ? 'does not' : `is ${describeValue(tokenHash)}`}`,
        at,
        'tokenHash',
      );
      continue;
    }
    const owner = owners.get(tokenHash);
    if (owner !== undefined && owner !== organizationId) {
      report(`is also the token of ${owner}: a token belongs to one organization`, at, 'tokenHash');
    }
    owners.set(tokenHash, organizationId);
  }
}

/**
 * Authenticates against a fixed set of token digests. Throws an `OptionsError` for an entry
 * without an organization or a digest, or a digest given to two organizations.
 */
export function scimTokenAuthenticator(entries: Iterable<ScimTokenEntry>): ScimAuthenticator {
  // Read once: `entries` may be a generator.
  const list = isIterable(entries) ? [...entries] : entries;
  checkArgument('scimTokenAuthenticator', 'entries', list, checkEntries);
  const byHash = new Map<string, { organizationId: string; digest: Buffer }>();
  for (const { organizationId, tokenHash } of list) {
    byHash.set(tokenHash, { organizationId, digest: Buffer.from(tokenHash.slice(PREFIX.length), 'base64url') });
  }
  const unauthorized = (detail: string) => new ScimError(401, undefined, detail);
  return {
    authenticate(authorization) {
      if (!authorization) throw unauthorized('Send the SCIM bearer token in an Authorization header.');
      const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!match?.[1]) throw unauthorized('The Authorization header is not "Bearer <token>".');
      const presented = digestOf(match[1]);
      const entry = byHash.get(presented);
      const digest = Buffer.from(presented.slice(PREFIX.length), 'base64url');
      // Compare the digests in constant time even when the lookup found nothing (against itself).
      const same = timingSafeEqual(entry?.digest ?? digest, digest);
      if (!entry || !same) throw unauthorized('The bearer token is not valid.');
      return entry.organizationId;
    },
  };
}
