/** `scim-sync secret`: a fresh webhook signing secret for an app on your machine and `scim-sync trigger`. */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { parseOrExplain } from '../args.js';
import { UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { type CliIo, println } from '../io.js';

/** `whsec_` and the base64 of 32 random bytes: the Standard Webhooks form Scalekit's dashboard shows. */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString('base64')}`;
}

export async function secretCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOrExplain('secret', () =>
    parseArgs({ args: [...argv], options: { json: { type: 'boolean', default: false } }, allowPositionals: true }),
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}.`, 'secret');
  const secret = newWebhookSecret();
  println(io.stdout, values.json ? JSON.stringify({ secret }) : secret);
  println(
    io.stderr,
    `Use it on both ends: SCALEKIT_WEBHOOK_SECRET=${secret} npm start, then ` +
      `npx scim-sync trigger user_created --url http://127.0.0.1:3000/webhooks/scalekit --secret ${secret}`,
  );
  return ExitCode.ok;
}
