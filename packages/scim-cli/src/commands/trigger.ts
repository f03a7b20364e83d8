/** `scim-sync trigger <type>`: one signed Scalekit event POSTed to a webhook endpoint. */
import { parseArgs } from 'node:util';
import { parseScalekitEvent } from '@org/scim-core';
import { signDelivery } from '@org/scim-testing';
import { parseOrExplain } from '../args.js';
import { UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { type CliIo, println } from '../io.js';
import { applyOverrides, buildEvent, EVENT_TYPES, eventTypeOf } from '../trigger-event.js';

/** Scalekit expects an answer within 10 s; so does this command. */
const TIMEOUT_MS = 10_000;

const validTypes = () =>
  Object.entries(EVENT_TYPES)
    .map(([short, full]) => `  ${short.padEnd(20)}${full}`)
    .join('\n');

export async function triggerCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOrExplain('trigger', () =>
    parseArgs({
      args: [...argv],
      options: {
        url: { type: 'string' },
        secret: { type: 'string' },
        organization: { type: 'string', short: 'o' },
        data: { type: 'string', short: 'd', multiple: true, default: [] },
      },
      allowPositionals: true,
    }),
  );
  const [name, ...extra] = positionals;
  if (name === undefined) throw new UsageError(`which event? One of:\n${validTypes()}`, 'trigger');
  if (extra.length > 0) throw new UsageError(`unexpected argument ${extra[0]}.`, 'trigger');
  const type = eventTypeOf(name);
  if (type === undefined) throw new UsageError(`unknown event type "${name}". Valid types:\n${validTypes()}`);
  if (!values.url) throw new UsageError('--url <webhook url> is required.', 'trigger');
  if (!URL.canParse(values.url)) throw new UsageError(`--url must be an absolute URL, got "${values.url}".`, 'trigger');
  const secret = values.secret ?? io.env.SCALEKIT_WEBHOOK_SECRET;
  if (!secret) throw new UsageError('--secret <whsec_…> is required (or set SCALEKIT_WEBHOOK_SECRET).', 'trigger');

  const event = buildEvent(type, values.organization ?? io.env.SCIM_SYNC_ORGANIZATION_ID);
  applyOverrides(event.data as Record<string, unknown>, values.data);
  const parsed = parseScalekitEvent(event);
  if (!parsed.success) {
    const issues = parsed.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    println(
      io.stderr,
      `Warning: with these --data overrides the event no longer matches Scalekit's schema (${issues}); sending it anyway.`,
    );
  }

  let delivery: ReturnType<typeof signDelivery>;
  try {
    delivery = signDelivery(event, { secret });
  } catch (error) {
    throw new UsageError(`--secret: ${error instanceof Error ? error.message : String(error)}`, 'trigger');
  }
  println(io.stdout, `${event.id} ${event.type} → POST ${values.url}`);
  let response: Response;
  try {
    response = await fetch(values.url, {
      method: 'POST',
      headers: delivery.headers,
      body: delivery.body,
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (error) {
    const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
    println(
      io.stderr,
      `scim-sync: no answer from ${values.url} (${error instanceof Error ? error.message : String(error)}${cause}).`,
    );
    return ExitCode.failed;
  }
  const body = await response.text();
  println(io.stdout, `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`);
  if (body !== '') println(io.stdout, body);
  return response.ok ? ExitCode.ok : ExitCode.failed;
}
