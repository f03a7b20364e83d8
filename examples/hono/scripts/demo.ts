/**
 * The demo: starts this example as its own process (in-memory store, whatever DATABASE_URL says),
 * sends it a scripted stream of signed Scalekit webhooks, prints what each delivery got, then the
 * app's users and groups.
 * Then reconciliation: a local fake of Scalekit's Directory API (the real SDK talks to it) holds a
 * directory, some of its webhooks are lost, and `POST /api/sync` catches up.
 * Then the admin portal: a customer's IT admin signs in and the app hands out single-use portal links.
 * The app's admin routes (`/api/users`, `/api/sync`, the portal link) answer only an organization's
 * signed-in admin, so the demo signs in (`/login`, DEMO_LOGIN=1) and calls them as the app's own page
 * would: a same-origin `fetch` with the session cookie.
 * Every step states what it should get; the demo exits non-zero if one does not.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ReconcileReport } from '@org/scim-core';
import { createEventFactory, deliverWebhook, generateWebhookSecret, signDelivery } from '@org/scim-testing';
import { type FakeScalekit, type FakeUserInput, startFakeScalekit } from '@org/scim-testing/fake-scalekit';

const exampleDir = fileURLToPath(new URL('..', import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

/** The app reads Scalekit's API from the fake, as it would from `https://<env>.scalekit.com`. */
async function startExample(port: number, secret: string, fake: FakeScalekit): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: exampleDir,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      SCALEKIT_WEBHOOK_SECRET: secret,
      SCALEKIT_ENVIRONMENT_URL: fake.url,
      SCALEKIT_CLIENT_ID: fake.clientId,
      SCALEKIT_CLIENT_SECRET: fake.clientSecret,
      // The demo runs on the in-memory store, even where DATABASE_URL is set.
      DATABASE_URL: '',
      // `/login` signs in as the admin of any organization: every admin route answers only them.
      DEMO_LOGIN: '1',
      // The app's roles: every provisioned user is a `member`, the Admins group's members `admin` too.
      ACCESS_RULES: JSON.stringify({
        defaultRoles: ['member'],
        rules: [{ match: 'groupId', value: 'dirgroup_admins', grant: ['admin'] }],
      }),
    },
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

/** What a browser adds to a request from the app's own page, plus the admin's session. */
const sameOrigin = (base: string, cookie: string) => ({ cookie, 'sec-fetch-site': 'same-origin', origin: base });

/** Signs in as the admin of `organizationId` through the demo form; answers the session's `Cookie` header. */
async function signIn(
  base: string,
  organizationId: string,
): Promise<{ status: number; location: string | null; cookie: string }> {
  const response = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'sec-fetch-site': 'same-origin', origin: base },
    body: new URLSearchParams({ organization_id: organizationId }),
    redirect: 'manual',
  });
  const cookie = (response.headers.get('set-cookie') ?? '').split(';', 1)[0] ?? '';
  return { status: response.status, location: response.headers.get('location'), cookie };
}

/** `GET path` as the signed-in admin. */
async function getJson<T>(base: string, cookie: string, path: string): Promise<T> {
  return (await fetch(`${base}${path}`, { headers: sameOrigin(base, cookie) })).json() as Promise<T>;
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

/** Part 1: a scripted stream of signed webhooks, each with the answer it should get. Returns the failures. */
async function webhookPart(base: string, secret: string): Promise<number> {
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

  // The app's own tables, read as this organization's signed-in admin (nobody else may).
  const { cookie } = await signIn(base, org);
  const users = await getJson<Record<string, unknown>[]>(base, cookie, '/api/users');
  const groups = await getJson<Record<string, unknown>[]>(base, cookie, '/api/groups');
  console.log(`\nThe app's users table (GET /api/users, signed in as the admin of ${org}):\n`);
  console.log(
    table(users, [
      ['id', 15],
      ['email', 19],
      ['name', 27],
      ['active', 6],
      ['groups', 42],
      ['roles', 14],
    ]),
  );
  console.log(`\nThe app's groups table (GET /api/groups):\n`);
  console.log(
    table(groups, [
      ['id', 22],
      ['name', 20],
    ]),
  );

  if (failures > 0) console.error(`\n${failures} deliveries did not get the expected answer.`);
  else
    console.log(
      '\nEvery delivery got the expected answer: duplicates and late events changed nothing, forgeries were refused, and the deleted user is deactivated, not removed.\n',
    );
  return failures;
}

/** Part 2: webhooks go down, the app misses a joiner and a leaver, and `POST /api/sync` finds both. */
async function reconciliationPart(base: string, fake: FakeScalekit): Promise<number> {
  // Not the webhook part's organization: this one starts empty.
  const org = 'org_53879494091473902';
  let failures = 0;
  /** `''` when the expectation holds, else the mark that the demo failed. */
  const check = (ok: boolean, expected: string): string => {
    if (ok) return '';
    failures += 1;
    return `   ✗ expected ${expected}`;
  };
  const { cookie } = await signIn(base, org);
  const appUsers = () =>
    getJson<({ id: string; active: boolean } & Record<string, unknown>)[]>(base, cookie, '/api/users');
  /** `POST /api/sync` with `headers` (default: as the app's own page, signed in); answers the status and the body. */
  const post = async (headers: Record<string, string> = sameOrigin(base, cookie)) => {
    const response = await fetch(`${base}/api/sync?organization_id=${org}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: '{}',
    });
    return { status: response.status, body: (await response.json()) as unknown };
  };
  const sync = async () => {
    const { status, body } = await post();
    return { status, report: body as ReconcileReport };
  };

  console.log(`${'─'.repeat(120)}\n\nReconciliation against a local fake of Scalekit's Directory API\n`);
  console.log(
    `The same app, started with SCALEKIT_ENVIRONMENT_URL=${fake.url} (the fake; the real @scalekit-sdk/node\ntalks to it), SCALEKIT_CLIENT_ID and SCALEKIT_CLIENT_SECRET. Organization ${org}.\n`,
  );

  fake.addOrganization({ id: org, displayName: 'Acme' });
  fake.addDirectory(org);
  const eng = fake.upsertGroup(org, { id: 'dirgroup_engineering', displayName: 'Engineering' });
  const research = fake.upsertGroup(org, { id: 'dirgroup_research', displayName: 'Research' });
  const person = (id: string, givenName: string, familyName: string, groups: string[], role = 'member') =>
    ({
      id,
      email: `${id.slice('diruser_'.length)}@example.com`,
      givenName,
      familyName,
      groups,
      roles: [role],
    }) satisfies FakeUserInput;
  const people = [
    person('diruser_alan', 'Alan', 'Turing', [research.id]),
    person('diruser_barbara', 'Barbara', 'Liskov', [eng.id, research.id], 'admin'),
    person('diruser_edsger', 'Edsger', 'Dijkstra', [research.id]),
    person('diruser_ken', 'Ken', 'Thompson', [eng.id]),
    person('diruser_radia', 'Radia', 'Perlman', [eng.id]),
  ];
  for (const p of people) fake.upsertUser(org, p);
  const seeded = await fake.webhooks.deliver(`${base}/webhooks/scalekit`);
  const accepted = seeded.filter((d) => d.status === 200).length;
  console.log(
    `1. The directory: ${people.length} users in 2 groups, created in the fake. Its ${seeded.length} webhooks arrive; the app answers ${accepted} of them 200.${check(seeded.length === 7 && accepted === 7, '7 webhooks, all 200')}`,
  );

  const margaret = person('diruser_margaret', 'Margaret', 'Hamilton', [eng.id]);
  fake.upsertUser(org, margaret);
  fake.removeUser(org, 'diruser_ken');
  const lost = fake.webhooks.drop();
  const before = await appUsers();
  const ken = before.find((u) => u.id === 'diruser_ken');
  const unaware = before.length === 5 && !before.some((u) => u.id === margaret.id) && ken?.active === true;
  console.log(
    `2. Webhooks go down: Margaret Hamilton joins Engineering and Ken Thompson leaves; their ${lost.length} webhooks are lost.\n   GET /api/users still lists ${before.length} users, no Margaret, and Ken active=${ken?.active}: the app does not know.${check(unaware, '5 users, no Margaret, Ken active')}`,
  );

  // Only the organization's signed-in admin may sync, and only from the app's own pages.
  const codeOf = (body: unknown) => (body as { error?: { code?: string } }).error?.code ?? '-';
  const anonymous = await post({ 'sec-fetch-site': 'same-origin', origin: base });
  const crossSite = await post({
    ...sameOrigin(base, cookie),
    'sec-fetch-site': 'cross-site',
    origin: 'https://evil.example',
  });
  const untouched = !(await appUsers()).some((u) => u.id === margaret.id);
  console.log(
    `${'3. POST /api/sync, nobody signed in'.padEnd(58)}HTTP ${anonymous.status} ${codeOf(anonymous.body)}${check(anonymous.status === 401, 'HTTP 401')}`,
  );
  console.log(
    `${'   POST /api/sync from another site, with the session'.padEnd(58)}HTTP ${crossSite.status} ${codeOf(crossSite.body)}: nothing synced${check(crossSite.status === 403 && untouched, 'HTTP 403, nothing synced')}`,
  );

  const first = await sync();
  const { users, groups } = first.report;
  console.log(
    `${"4. POST /api/sync as the organization's signed-in admin".padEnd(58)}HTTP ${first.status}, status ${first.report.status}, ${first.report.durationMs} ms${check(
      first.status === 200 &&
        first.report.status === 'completed' &&
        users.created === 1 &&
        users.deactivated === 1 &&
        users.removed === 1 &&
        users.unchanged === 4,
      'HTTP 200 completed: created 1, deactivated 1 (removed 1), unchanged 4',
    )}\n`,
  );
  if (first.report.error) console.log(`   ${first.report.error.code}: ${first.report.error.message}`);
  console.log(
    `   users   listed ${users.listed}, created ${users.created}, updated ${users.updated}, reactivated ${users.reactivated}, deactivated ${users.deactivated} (removed from the directory ${users.removed}), unchanged ${users.unchanged}`,
  );
  console.log(
    `   groups  listed ${groups.listed}, created ${groups.created}, updated ${groups.updated}, deleted ${groups.deleted}, unchanged ${groups.unchanged}`,
  );
  console.log(`   events fed through the engine ${first.report.events}, handler calls ${first.report.handlerCalls}`);

  const after = await appUsers();
  const caughtUp =
    after.find((u) => u.id === margaret.id)?.active === true &&
    after.find((u) => u.id === 'diruser_ken')?.active === false;
  console.log(
    `\nThe app's users table after the sync (GET /api/users):${check(caughtUp, 'Margaret active, Ken active=false')}\n`,
  );
  console.log(
    table(after, [
      ['id', 16],
      ['email', 20],
      ['name', 17],
      ['active', 6],
      ['groups', 38],
      ['roles', 6],
    ]),
  );

  const second = await sync();
  console.log(
    `\n5. POST /api/sync again   HTTP ${second.status}, status ${second.report.status}, events ${second.report.events}, handler calls ${second.report.handlerCalls}: nothing changed remotely, nothing written.${check(
      second.status === 200 &&
        second.report.status === 'completed' &&
        second.report.events === 0 &&
        second.report.handlerCalls === 0,
      'HTTP 200 completed, events 0, handler calls 0',
    )}`,
  );

  if (failures > 0) console.error(`\n${failures} reconciliation steps did not get the expected answer.`);
  else
    console.log(
      '\nThe sync found what the lost webhooks would have said: Margaret created, Ken deactivated (not deleted), the\nothers untouched; and a second run wrote nothing.\n',
    );
  return failures;
}

/** The admin portal, over HTTP: who gets a link, that each is new, and that it opens once. */
async function portalPart(base: string, fake: FakeScalekit): Promise<number> {
  const org = 'org_53879494091473902';
  let failures = 0;
  /** `what` padded to one column, then what it got; a miss counts as a failure. */
  const step = (what: string, got: string, ok: boolean, expected: string) => {
    if (!ok) failures += 1;
    console.log(`${what.padEnd(58)}${got}${ok ? '' : `   ✗ expected ${expected}`}`);
  };
  console.log(`${'─'.repeat(120)}\n\nThe admin portal: the customer's IT admin sets up SSO and SCIM inside the app\n`);

  const link = `${base}/api/admin-portal/link`;
  const anonymous = await fetch(link);
  step('1. GET /api/admin-portal/link, nobody signed in', `HTTP ${anonymous.status}`, anonymous.status === 401, '401');

  const login = await signIn(base, org);
  const { cookie } = login;
  step(
    `2. POST /login as the admin of ${org}`,
    `HTTP ${login.status} → ${login.location}`,
    login.status === 303,
    '303 → /settings',
  );

  const answers = [await fetch(link, { headers: { cookie } }), await fetch(link, { headers: { cookie } })];
  const links = (await Promise.all(answers.map((a) => a.json()))) as { location: string; expiresAt: string }[];
  const [first, second] = links as [{ location: string; expiresAt: string }, { location: string; expiresAt: string }];
  const seconds = Math.round((Date.parse(first.expiresAt) - Date.now()) / 1000);
  step(
    '3. GET /api/admin-portal/link, signed in',
    `HTTP ${answers[0]?.status}, Cache-Control: ${answers[0]?.headers.get('cache-control')}, expires in ${seconds} s\n   ${first.location}`,
    answers.every((a) => a.status === 200 && a.headers.get('cache-control') === 'no-store') &&
      seconds > 0 &&
      seconds <= 60,
    '200, no-store, a link valid for a minute',
  );
  step(
    '4. again: a new link (single-use, never cached)',
    second.location === first.location ? 'the same link' : 'a different link',
    second.location !== first.location,
    'a different link',
  );
  const opened = [(await fetch(first.location)).status, (await fetch(first.location)).status];
  step(
    '5. opening the first link, then opening it again',
    `HTTP ${opened.join(', then ')}`,
    opened[0] === 200 && opened[1] === 410,
    '200, then 410',
  );
  const otherOrg = fake.addOrganization({ displayName: 'Globex' }).id;
  const other = await fetch(`${link}?organization_id=${otherOrg}`, { headers: { cookie } });
  step("6. the same admin asks for another organization's link", `HTTP ${other.status}`, other.status === 403, '403');

  console.log(
    `\nThe page that embeds it: start the example with DEMO_LOGIN=1 and the Scalekit API variables, sign in at /login,\nand open /settings (the browser tests do exactly that against this fake's portal).\n`,
  );
  return failures;
}

async function main() {
  const secret = generateWebhookSecret();
  // Started first, so the app gets its URL and credentials; it signs webhooks with the app's secret.
  const fake = await startFakeScalekit({ webhookSecret: secret });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = await startExample(port, secret, fake);
  try {
    const failures =
      (await webhookPart(base, secret)) + (await reconciliationPart(base, fake)) + (await portalPart(base, fake));
    if (failures > 0) process.exitCode = 1;
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    await fake.close();
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
