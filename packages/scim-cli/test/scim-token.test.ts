/** `scim-sync scim-token create`: the token once, and the digest entry the examples' SCIM_TOKENS and core's authenticator accept. */
import { hashScimToken, scimTokenAuthenticator } from '@org/scim-core';
import { loadConfig } from '@org/scim-core/app';
import { expect, it } from 'vitest';
import { run } from './helpers.js';

it('prints a new token on stdout and only its digest entry on stderr, which SCIM_TOKENS and the authenticator accept', async () => {
  const { code, stdout, stderr } = await run(['scim-token', 'create', '--organization', 'org_acme']);
  expect(code).toBe(0);
  const token = stdout.trim();
  expect(token).toMatch(/^scim_[A-Za-z0-9_-]{43}$/);
  const entry = /org_acme=sha256:[A-Za-z0-9_-]{43}/.exec(stderr)?.[0];
  expect(entry).toBe(`org_acme=${hashScimToken(token)}`);
  expect(stderr).not.toContain(token);

  const config = loadConfig({ SCALEKIT_WEBHOOK_SECRET: 'whsec_x', SCIM_TOKENS: entry });
  if ('missing' in config.scim) throw new Error('SCIM_TOKENS was not read');
  const authenticator = scimTokenAuthenticator(config.scim.tokens);
  await expect(Promise.resolve(authenticator.authenticate(`Bearer ${token}`))).resolves.toBe('org_acme');
});

it('--json prints one object, and two tokens differ', async () => {
  const first = JSON.parse((await run(['scim-token', 'create', '-o', 'org_1', '--json'])).stdout);
  const second = JSON.parse((await run(['scim-token', 'create', '-o', 'org_1', '--json'])).stdout);
  expect(first).toEqual({
    organizationId: 'org_1',
    token: expect.stringMatching(/^scim_/),
    tokenHash: hashScimToken(first.token),
    entry: `org_1=${hashScimToken(first.token)}`,
  });
  expect(second.token).not.toBe(first.token);
});

it.each([
  [['scim-token'], /say what to do: scim-token create --organization <id>/],
  [['scim-token', 'revoke'], /unknown action revoke/],
  [['scim-token', 'create'], /--organization is required/],
  [['scim-token', 'create', '-o', 'org one'], /--organization must be an organization id/],
])('%j is a usage error (exit 2)', async (argv, message) => {
  const { code, stderr } = await run(argv);
  expect(code).toBe(2);
  expect(stderr).toMatch(message);
});
