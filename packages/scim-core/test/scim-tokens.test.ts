/** SCIM bearer tokens: stored hashed, several per organization, each mapping to one organization only. */
import { describe, expect, it } from 'vitest';
import { ScimError } from '../src/scim/errors.js';
import { generateScimToken, hashScimToken, scimTokenAuthenticator } from '../src/scim/tokens.js';

describe('SCIM bearer tokens', () => {
  const acmeOld = generateScimToken();
  const acmeNew = generateScimToken();
  const globex = generateScimToken();
  const auth = scimTokenAuthenticator([
    { organizationId: 'org_acme', tokenHash: acmeOld.tokenHash },
    { organizationId: 'org_acme', tokenHash: acmeNew.tokenHash },
    { organizationId: 'org_globex', tokenHash: globex.tokenHash },
  ]);

  it('maps each token to its organization, with several tokens per organization for rotation', () => {
    expect(auth.authenticate(`Bearer ${acmeOld.token}`)).toBe('org_acme');
    expect(auth.authenticate(`bearer ${acmeNew.token}`)).toBe('org_acme');
    expect(auth.authenticate(`Bearer ${globex.token}`)).toBe('org_globex');
  });

  it.each([
    [undefined, /Authorization header/],
    ['', /Authorization header/],
    ['Basic dXNlcjpwYXNz', /not "Bearer <token>"/],
    ['Bearer', /not "Bearer <token>"/],
    ['Bearer not-a-token', /not valid/],
  ])('refuses %j with a 401 SCIM error', (header, detail) => {
    let error: unknown;
    try {
      auth.authenticate(header);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ScimError);
    expect(error).toMatchObject({ status: 401 });
    expect((error as ScimError).detail).toMatch(detail);
  });

  it('keeps only digests, and refuses a token given where its digest belongs', () => {
    expect(acmeOld.tokenHash).not.toContain(acmeOld.token);
    expect(hashScimToken(acmeOld.token)).toBe(acmeOld.tokenHash);
    expect(() => scimTokenAuthenticator([{ organizationId: 'org_x', tokenHash: acmeOld.token }])).toThrow(
      /hashScimToken/,
    );
  });
});
