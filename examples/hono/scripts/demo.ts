/**
 * The demo: starts this example as its own process (in-memory store), sends it a scripted stream of
 * signed Scalekit webhooks, prints what each delivery got, then the app's users and groups.
 * Every delivery states what it should get; the demo exits non-zero if one does not.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createEventFactory, deliverWebhook, generateWebhookSecret, signDelivery } from '@org/scim-testing';

const exampleDir = fileURLToPath(new URL('..', import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

async function startExample(port: number, secret: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: exampleDir,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', SCALEKIT_WEBHOOK_SECRET: secret },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const timeout = setTimeout(() => child.kill(), 30_000);
  let output = '';
  for await (const chunk of child.stdout as NodeJS.ReadableStream) {
    output += chunk;
    if (output.includes('listening on')) break;
  }
  clearTimeout(timeout);
  if (!output.includes('listening on')) throw new Error(`the example did not start:\n${output}`);
  return child;
}

const pad = (value: unknown, width: number) => String(value).padEnd(width).slice(0, width);

function table(rows: Record<string, unknown>[], columns: [key: string, width: number][]): string {
  const header = columns.map(([key, width]) => pad(key, width)).join(' ');
  const lines = rows.map((row) =>
    columns
      .map(([key, width]) => {
        const value = row[key];
        return pad(Array.isArray(value) ? value.join(',') || '-' : (value ?? '-'), width);
      })
      .join(' '),
  );
  return [header, '-'.repeat(header.length), ...lines].join('\n');
}

async function main() {
  const secret = generateWebhookSecret();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = await startExample(port, secret);
  const org = 'org_53879494091473415';
  const f = createEventFactory({ organizationId: org });

  const eng = { id: 'dirgroup_engineering', display_name: 'Engineering' };
  const admins = { id: 'dirgroup_admins', display_name: 'Admins' };
  const ada = {
    id: 'diruser_ada',
    dp_id: 'okta-00u1ada',
    preferred_username: 'ada',
    email: 'ada@example.com',
    name: 'Ada Lovelace',
    groups: [{ id: eng.id, name: 'Engineering' }],
    roles: [{ role_name: 'member' }],
  };
  const grace = { id: 'diruser_grace', email: 'grace@example.com', name: 'Grace Hopper', groups: [{ id: eng.id }] };
  const linus = { id: 'diruser_linus', email: 'linus@example.com', name: 'Linus Ødegård 🐧' };

  // Stamped in story order (each factory call advances its clock by ~1 ms); sent in the order below.
  const e = {
    engCreated: f.groupCreated(eng),
    adminsCreated: f.groupCreated(admins),
    adaCreated: f.userCreated(ada),
    graceCreated: f.userCreated(grace),
    linusCreated: f.userCreated(linus),
    adaPromoted: f.userUpdated({
      ...ada,
      groups: [...ada.groups, { id: admins.id, name: 'Admins' }],
      roles: [{ role_name: 'admin' }],
    }),
    graceOld: f.userUpdated({ ...grace, name: 'Grace (stale snapshot)' }),
    graceNew: f.userUpdated({ ...grace, name: 'Rear Admiral Grace Hopper' }),
    linusForged: f.userUpdated({ ...linus, roles: [{ role_name: 'owner' }] }),
    linusTampered: f.userUpdated(linus),
    linusInactive: f.userUpdated({ ...linus, active: false }),
    graceLateUpdate: f.userUpdated({ ...grace, name: 'Grace (update from before her deletion)' }),
    graceDeleted: f.userDeleted({ id: grace.id, email: grace.email }),
    orgCreated: f.other('organization.created', { id: org }),
  };

  type Step = { label: string; send: () => Promise<{ status: number; body: unknown }>; expect: [number, string] };
  const url = `${base}/webhooks/scalekit`;
  const deliver = (event: { id: string }) => () => deliverWebhook(url, event, { secret });
  const steps: Step[] = [
    { label: 'group_created   Engineering', send: deliver(e.engCreated), expect: [200, 'applied'] },
    { label: 'group_created   Admins', send: deliver(e.adminsCreated), expect: [200, 'applied'] },
    { label: 'user_created    Ada (Engineering, member)', send: deliver(e.adaCreated), expect: [200, 'applied'] },
    { label: 'user_created    Grace (Engineering)', send: deliver(e.graceCreated), expect: [200, 'applied'] },
    { label: 'user_created    Linus (UTF-8 name)', send: deliver(e.linusCreated), expect: [200, 'applied'] },
    { label: 'user_updated    Ada joins Admins, role admin', send: deliver(e.adaPromoted), expect: [200, 'applied'] },
    { label: 'duplicate       the same delivery again', send: deliver(e.adaPromoted), expect: [200, 'duplicate'] },
    { label: 'user_updated    Grace renamed', send: deliver(e.graceNew), expect: [200, 'applied'] },
    { label: 'out of order    an older Grace update, late', send: deliver(e.graceOld), expect: [200, 'stale'] },
    {
      label: 'forged          signed with the wrong secret',
      send: () => deliverWebhook(url, e.linusForged, { secret: generateWebhookSecret() }),
      expect: [401, 'invalid_signature'],
    },
    {
      label: 'tampered        body changed after signing',
      send: async () => {
        const { body, headers } = signDelivery(e.linusTampered, { secret });
        const response = await fetch(url, { method: 'POST', headers, body: body.replace('Linus', 'Mallory') });
        return { status: response.status, body: await response.json() };
      },
      expect: [401, 'invalid_signature'],
    },
    { label: 'user_updated    Linus active=false', send: deliver(e.linusInactive), expect: [200, 'applied'] },
    { label: 'user_deleted    Grace', send: deliver(e.graceDeleted), expect: [200, 'applied'] },
    {
      label: 'late update     Grace, from before the deletion',
      send: deliver(e.graceLateUpdate),
      expect: [200, 'stale'],
    },
    { label: 'other type      organization.created', send: deliver(e.orgCreated), expect: [200, 'ignored'] },
  ];

  console.log(`\nscim-sync demo: examples/hono on ${base} (in-memory store), organization ${org}\n`);
  console.log(`${pad('#', 3)} ${pad('delivery', 48)} ${pad('HTTP', 4)} ${pad('result', 18)} handlers called`);
  console.log('-'.repeat(120));
  let failures = 0;
  for (const [i, step] of steps.entries()) {
    const { status, body } = await step.send();
    const b = body as { status?: string; handlers?: string[]; error?: { code: string } };
    const result = b.status ?? b.error?.code ?? '?';
    const ok = status === step.expect[0] && result === step.expect[1];
    if (!ok) failures += 1;
    const handlers = b.handlers?.length ? b.handlers.join(', ') : '-';
    console.log(
      `${pad(i + 1, 3)} ${pad(step.label, 48)} ${pad(status, 4)} ${pad(result, 18)} ${handlers}${ok ? '' : `   ✗ expected ${step.expect.join(' ')}`}`,
    );
  }

  const users = (await (await fetch(`${base}/api/users?organization_id=${org}`)).json()) as Record<string, unknown>[];
  const groups = (await (await fetch(`${base}/api/groups?organization_id=${org}`)).json()) as Record<string, unknown>[];
  console.log(`\nThe app's users table (GET /api/users?organization_id=${org}):\n`);
  console.log(
    table(users, [
      ['id', 15],
      ['email', 19],
      ['name', 27],
      ['active', 6],
      ['groups', 42],
      ['roles', 8],
    ]),
  );
  console.log(`\nThe app's groups table (GET /api/groups):\n`);
  console.log(
    table(groups, [
      ['id', 22],
      ['name', 20],
    ]),
  );

  child.kill('SIGTERM');
  await once(child, 'exit');
  if (failures > 0) {
    console.error(`\n${failures} deliveries did not get the expected answer.`);
    process.exit(1);
  }
  console.log(
    '\nEvery delivery got the expected answer: duplicates and late events changed nothing, forgeries were refused, and the deleted user is deactivated, not removed.\n',
  );
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
