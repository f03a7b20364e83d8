/**
 * `scim-sync scim-token create --organization <id>`: a new SCIM bearer token for one customer's
 * identity provider. The token is printed once, for the IdP's provisioning settings; the app keeps
 * only its digest (`organization_id=sha256:…`, an entry of `SCIM_TOKENS` in the examples, or a row of
 * the app's own token table), so a leaked configuration leaks no token.
 */
import { parseArgs } from 'node:util';
import { generateScimToken } from '@org/scim-core';
import { parseOrExplain } from '../args.js';
import { UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { type CliIo, println } from '../io.js';

/** What `SCIM_TOKENS` and `loadConfig()` of `@org/scim-core/app` accept as an organization id. */
const ORGANIZATION_ID = /^[A-Za-z0-9_-]{1,64}$/;

export async function scimTokenCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOrExplain('scim-token', () =>
    parseArgs({
      args: [...argv],
      options: {
        organization: { type: 'string', short: 'o' },
        json: { type: 'boolean', default: false },
      },
      allowPositionals: true,
    }),
  );
  const [action, ...rest] = positionals;
  if (action !== 'create') {
    throw new UsageError(
      action === undefined
        ? 'say what to do: scim-token create --organization <id>.'
        : `unknown action ${action}: use create.`,
      'scim-token',
    );
  }
  if (rest.length > 0) throw new UsageError(`unexpected argument ${rest[0]}.`, 'scim-token');
  const organizationId = values.organization ?? io.env.SCIM_SYNC_ORGANIZATION_ID;
  if (!organizationId) {
    throw new UsageError('--organization is required: the organization this token provisions.', 'scim-token');
  }
  if (!ORGANIZATION_ID.test(organizationId)) {
    throw new UsageError(
      '--organization must be an organization id such as org_123 (letters, digits, _ and -; at most 64).',
      'scim-token',
    );
  }
  const { token, tokenHash } = generateScimToken();
  const entry = `${organizationId}=${tokenHash}`;
  if (values.json) {
    println(io.stdout, JSON.stringify({ organizationId, token, tokenHash, entry }));
  } else {
    println(io.stdout, token);
    println(
      io.stderr,
      `This is ${organizationId}'s SCIM bearer token: paste it into the identity provider's provisioning settings now; it is not stored anywhere.\n` +
        `Keep only its digest. Add this entry to SCIM_TOKENS (comma- or line-separated), or store it in your token table:\n  ${entry}`,
    );
  }
  return ExitCode.ok;
}
