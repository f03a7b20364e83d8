/** `scim-sync fake-scalekit`: a seeded local Scalekit for developing an app, until SIGINT/SIGTERM. */
import { parseArgs } from 'node:util';
import { integerFlag, parseOrExplain } from '../args.js';
import { UsageError } from '../errors.js';
import { ExitCode } from '../exit-codes.js';
import { type CliIo, println } from '../io.js';
import { simulateDirectoryActivity } from '../simulated-changes.js';

export async function fakeScalekitCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOrExplain('fake-scalekit', () =>
    parseArgs({
      args: [...argv],
      options: {
        port: { type: 'string' },
        users: { type: 'string' },
        groups: { type: 'string' },
        organization: { type: 'string', short: 'o' },
        'webhook-url': { type: 'string' },
        interval: { type: 'string' },
        changes: { type: 'string' },
      },
      allowPositionals: true,
    }),
  );
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}.`, 'fake-scalekit');
  const port = integerFlag('fake-scalekit', 'port', values.port, 0);
  if (port > 65_535) throw new UsageError(`--port must be at most 65535, got ${port}.`, 'fake-scalekit');
  const users = integerFlag('fake-scalekit', 'users', values.users, 100);
  const groups = integerFlag('fake-scalekit', 'groups', values.groups, 5);
  const intervalMs = integerFlag('fake-scalekit', 'interval', values.interval, 2000, 10);
  const changes = integerFlag('fake-scalekit', 'changes', values.changes, 20);
  const webhookUrl = values['webhook-url'];
  if (webhookUrl !== undefined && !URL.canParse(webhookUrl)) {
    throw new UsageError(`--webhook-url must be an absolute URL, got "${webhookUrl}".`, 'fake-scalekit');
  }
  if (io.signal.aborted) return ExitCode.interrupted;

  // Loaded here: its gRPC server is only needed by this command.
  const { startFakeScalekit } = await import('@org/scim-testing/fake-scalekit');
  let fake: Awaited<ReturnType<typeof startFakeScalekit>>;
  try {
    fake = await startFakeScalekit({ port });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'EADDRINUSE')
      throw new UsageError(`port ${port} is in use: pick another --port, or 0 for a free one.`);
    throw error;
  }
  const stopped = new Promise<void>((resolve) => {
    if (io.signal.aborted) resolve();
    io.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  let timer: NodeJS.Timeout | undefined;
  try {
    const organizationId = fake.addOrganization({
      ...(values.organization !== undefined && { id: values.organization }),
      displayName: 'Acme (fake)',
    }).id;
    const directoryId = fake.addDirectory(organizationId).id;
    const seeded = fake.seed(organizationId, { users, groups });
    const env = {
      SCALEKIT_ENVIRONMENT_URL: fake.url,
      SCALEKIT_CLIENT_ID: fake.clientId,
      SCALEKIT_CLIENT_SECRET: fake.clientSecret,
      SCALEKIT_WEBHOOK_SECRET: fake.webhookSecret,
      SCIM_SYNC_ORGANIZATION_ID: organizationId,
      SCIM_SYNC_DIRECTORY_ID: directoryId,
    };
    for (const [name, value] of Object.entries(env)) println(io.stdout, `${name}=${value}`);
    // A dotenv comment, so the whole output stays a valid .env file.
    println(io.stdout, `# ready: ${users} users and ${groups} groups in ${organizationId}, listening on ${fake.url}`);
    println(io.stderr, 'Fake Scalekit running: press Ctrl-C to stop.');

    if (webhookUrl !== undefined && changes > 0) {
      const activity = simulateDirectoryActivity(fake, organizationId, seeded);
      let made = 0;
      let delivering = false;
      const tick = async () => {
        if (delivering) return;
        delivering = true;
        try {
          if (made < changes) {
            made += 1;
            println(io.stderr, `change ${made}/${changes}: ${activity.next()}`);
          }
          for (const report of await fake.webhooks.deliver(webhookUrl)) {
            println(io.stderr, `  delivered ${report.type} ${report.eventId}: HTTP ${report.status}`);
          }
        } catch (error) {
          // The events stay queued and go out on the next tick, as Scalekit retries.
          println(
            io.stderr,
            `  could not deliver to ${webhookUrl} (${error instanceof Error ? error.message : String(error)}); retrying`,
          );
        } finally {
          delivering = false;
        }
        if (made >= changes && fake.webhooks.pending().length === 0 && timer) {
          clearInterval(timer);
          println(io.stderr, `Made all ${changes} changes; the fake keeps serving the API until stopped.`);
        }
      };
      timer = setInterval(() => void tick(), intervalMs);
    }
    await stopped;
    return ExitCode.ok;
  } finally {
    if (timer) clearInterval(timer);
    await fake.close();
  }
}
