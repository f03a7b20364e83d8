/**
 * The examples' contract (DESIGN.md, "Examples and their contract"), as one suite every
 * `examples/<framework>` runs against its app over real HTTP, so switching frameworks brings no surprise.
 * Reconciliation runs against a local fake of Scalekit that the real `@scalekit-sdk/node` talks to.
 *
 * The suite runs three times per example: on the in-memory store (`DATABASE_URL` unset), on PostgreSQL
 * (a `postgres://` `DATABASE_URL`, a fresh `DATABASE_SCHEMA` for each app it starts, dropped after
 * the run) and on MySQL / MariaDB (a `mysql://` one, a fresh `DATABASE_TABLE_PREFIX` for each app,
 * its tables dropped after the run), plus checks only a database can pass: the app's rows commit
 * with the ledger, and survive a restart.
 *
 * The admin routes (`/api/users`, `/api/groups`, `/api/sync`) answer only the signed-in admin of the
 * organization: the suite signs in through the demo `/login` (`DEMO_LOGIN=1`) and calls them as the
 * app's own page would, a same-origin `fetch` with the session cookie.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEventFactory, deliverWebhook, generateWebhookSecret } from '@org/scim-testing';
import { type FakeScalekit, startFakeScalekit } from '@org/scim-testing/fake-scalekit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

export interface ExampleServer {
  url: string;
  /**
   * Every 5xx the app reported so far, with its cause, as text: what its `onServerError` hook got
   * (`formatServerError`), or its stderr when it runs as its own process.
   */
  serverErrors(): string;
  close(): void | Promise<void>;
}

/**
 * The environment the suite starts an example with. The three API variables are `''` (unset, to the
 * examples' config) when the suite checks that webhooks work without reconciliation, and so are the
 * two `SCIM_*` ones; `DATABASE_URL` is `''` for the in-memory store. `DEMO_LOGIN` is always `1`;
 * `SESSION_TTL_SECONDS` is `''` (the default, 8 hours) except where the suite lets a session expire.
 * `ACCESS_RULES` (the role mapping, JSON) or `ACCESS_RULES_FILE` (a path) is set where the suite
 * checks roles, the other `''`.
 */
export type ExampleEnv = Record<
  | 'SCALEKIT_WEBHOOK_SECRET'
  | 'SCALEKIT_ENVIRONMENT_URL'
  | 'SCALEKIT_CLIENT_ID'
  | 'SCALEKIT_CLIENT_SECRET'
  | 'SCIM_BEARER_TOKEN'
  | 'SCIM_ORGANIZATION_ID'
  | 'SCIM_TOKENS'
  | 'DATABASE_URL'
  | 'DATABASE_SCHEMA'
  | 'DATABASE_TABLE_PREFIX'
  | 'DEMO_LOGIN'
  | 'SESSION_SECRET'
  | 'SESSION_TTL_SECONDS'
  | 'ACCESS_RULES'
  | 'ACCESS_RULES_FILE',
  string
>;

type DatabaseEnv = Pick<ExampleEnv, 'DATABASE_URL' | 'DATABASE_SCHEMA' | 'DATABASE_TABLE_PREFIX'>;

/**
 * What the suite needs of a database pool for its own checks and clean-up: a `pg.Pool`, or a mysql2
 * pool behind the same shape (`?` placeholders, binary strings answered as text).
 */
export interface SqlPool {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  end(): Promise<void>;
}

export interface ExampleContractOptions {
  /** A PostgreSQL pool on `url` for the suite's checks: `(url) => new pg.Pool({ connectionString: url })`. */
  connect(url: string): SqlPool;
  /** The same on MySQL / MariaDB (the examples' tests wrap a mysql2 pool). */
  connectMysql(url: string): SqlPool;
  /** Default: `$TEST_DATABASE_URL`, else `postgres://postgres@127.0.0.1:5432/test`. */
  databaseUrl?: string;
  /** Default: `$TEST_MYSQL_URL`, else `mysql://root@127.0.0.1:3306/test`. */
  mysqlUrl?: string;
}

/** How the suite names, queries and drops one database's tables. */
interface Database {
  title: 'PostgreSQL' | 'MySQL';
  url: string;
  connect(url: string): SqlPool;
  /** The variables of one app start, its tables named after `name`. */
  env(name: string): DatabaseEnv;
  /** A quoted table of the app started with `env`. */
  table(env: DatabaseEnv, name: string): string;
  /** `text` with `$1`, `$2`, … as this database writes parameters. */
  parameters(text: string): string;
  rename(env: DatabaseEnv, from: string, to: string): string;
  /** What the database says of a table that is not there. */
  missing(table: string): string;
  drop(db: SqlPool, env: DatabaseEnv): Promise<void>;
}

const postgres = (url: string, connect: (url: string) => SqlPool): Database => ({
  title: 'PostgreSQL',
  url,
  connect,
  env: (name) => ({ DATABASE_URL: url, DATABASE_SCHEMA: name, DATABASE_TABLE_PREFIX: '' }),
  table: (env, name) => `"${env.DATABASE_SCHEMA}".${name}`,
  parameters: (text) => text,
  rename: (env, from, to) => `alter table "${env.DATABASE_SCHEMA}".${from} rename to ${to}`,
  missing: (table) => `${table}" does not exist`,
  drop: async (db, env) => {
    await db.query(`drop schema if exists "${env.DATABASE_SCHEMA}" cascade`);
  },
});

const mysql = (url: string, connect: (url: string) => SqlPool): Database => ({
  title: 'MySQL',
  url,
  connect,
  env: (name) => ({ DATABASE_URL: url, DATABASE_SCHEMA: '', DATABASE_TABLE_PREFIX: `${name}_` }),
  table: (env, name) => `\`${env.DATABASE_TABLE_PREFIX}${name}\``,
  parameters: (text) => text.replace(/\$\d+/g, '?'),
  rename: (env, from, to) =>
    `alter table \`${env.DATABASE_TABLE_PREFIX}${from}\` rename to \`${env.DATABASE_TABLE_PREFIX}${to}\``,
  missing: (table) => `${table}' doesn't exist`,
  drop: async (db, env) => {
    const prefix = env.DATABASE_TABLE_PREFIX;
    const { rows } = await db.query(
      'select table_name as name from information_schema.tables where table_schema = database()',
    );
    const tables = rows.map((row) => String(row.name)).filter((name) => name.startsWith(prefix));
    // Memberships first: they reference the app's users.
    tables.sort((a, b) => Number(b.endsWith('app_memberships')) - Number(a.endsWith('app_memberships')));
    for (const name of tables) await db.query(`drop table if exists \`${name}\``);
  },
});

/** The organization the SCIM token provisions: not `org_example`, which the reconciliation tests sync. */
const SCIM_ORGANIZATION = 'org_scim';
/** A second customer, provisioned with a token from SCIM_TOKENS. */
const SCIM_TENANT = 'org_scim_tenant';

/**
 * The role mapping the contract starts the app with (`ACCESS_RULES`): per organization, with a default
 * for every other one. `org_roles` maps a group by id (Scalekit's ids are known up front); the SCIM
 * organization maps a group by name, case-insensitively (the SCIM server makes its groups' ids);
 * `org_example` gives every user `member`; the default maps Scalekit's `admin` role.
 */
const ACCESS_RULES = JSON.stringify({
  default: { rules: [{ match: 'role', value: 'admin', grant: ['admin'] }] },
  organizations: {
    org_example: { defaultRoles: ['member'], rules: [{ match: 'role', value: 'admin', grant: ['admin'] }] },
    org_roles: {
      defaultRoles: ['member'],
      rules: [{ match: 'groupId', value: 'dirgroup_admins', grant: ['admin', 'billing'] }],
    },
    [SCIM_ORGANIZATION]: { rules: [{ match: 'groupName', value: 'app admins', grant: ['admin'] }] },
  },
});

/**
 * An app that takes webhooks and nothing else: no Scalekit API, no SCIM token, no role mapping, the
 * demo sign-in on (with a random session secret and the default lifetime). The store is the caller's.
 */
const webhooksOnly = (secret: string): Omit<ExampleEnv, keyof DatabaseEnv> => ({
  SCALEKIT_WEBHOOK_SECRET: secret,
  SCALEKIT_ENVIRONMENT_URL: '',
  SCALEKIT_CLIENT_ID: '',
  SCALEKIT_CLIENT_SECRET: '',
  SCIM_BEARER_TOKEN: '',
  SCIM_ORGANIZATION_ID: '',
  SCIM_TOKENS: '',
  DEMO_LOGIN: '1',
  SESSION_SECRET: '',
  SESSION_TTL_SECONDS: '',
  ACCESS_RULES: '',
  ACCESS_RULES_FILE: '',
});

const IN_MEMORY: DatabaseEnv = { DATABASE_URL: '', DATABASE_SCHEMA: '', DATABASE_TABLE_PREFIX: '' };

interface UserRow {
  id: string;
  email: string | null;
  name: string | null;
  active: boolean;
  groups: string[];
  /** The app's roles, as `accessChanged` wrote them. */
  roles: string[];
  /** The roles the directory sent. */
  directoryRoles: string[];
}

const SESSION_COOKIE = 'scim_example_admin';

/** What a browser adds to a request from the app's own page. */
const sameOrigin = (base: string) => ({ 'sec-fetch-site': 'same-origin', origin: base });

/** Signs in through the demo form, as the app's own `/login` page posts it; answers the session's `Cookie` header. */
export async function signIn(base: string, organizationId: string): Promise<string> {
  const response = await fetch(`${base}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...sameOrigin(base) },
    body: new URLSearchParams({ organization_id: organizationId }),
    redirect: 'manual',
  });
  expect(response.status).toBe(303);
  const cookie = (response.headers.get('set-cookie') ?? '').split(';', 1)[0] ?? '';
  expect(cookie).toMatch(new RegExp(`^${SESSION_COOKIE}=.`));
  return cookie;
}

/**
 * The app's admin routes as its own pages call them: a same-origin `fetch` with the session of the
 * organization's admin (one sign-in per organization, kept).
 */
function adminClient(base: () => string) {
  const sessions = new Map<string, Promise<string>>();
  const cookie = (organizationId: string): Promise<string> => {
    let session = sessions.get(organizationId);
    if (!session) {
      session = signIn(base(), organizationId);
      sessions.set(organizationId, session);
    }
    return session;
  };
  /** `POST`s carry `Content-Type: application/json` and `{}` unless `headers` or `body` say otherwise. */
  const call = async (
    organizationId: string,
    method: 'GET' | 'POST',
    path: string,
    init: { headers?: Record<string, string>; body?: string } = {},
  ) =>
    fetch(`${base()}${path}`, {
      method,
      // A header given as '' is left out.
      headers: Object.fromEntries(
        Object.entries({
          ...sameOrigin(base()),
          cookie: await cookie(organizationId),
          ...(method === 'POST' && { 'content-type': 'application/json' }),
          ...init.headers,
        }).filter(([, value]) => value !== ''),
      ),
      ...(method === 'POST' && { body: init.body ?? '{}' }),
    });
  return {
    cookie,
    fetch: call,
    users: async (organizationId: string) =>
      (await call(organizationId, 'GET', `/api/users?organization_id=${organizationId}`)).json() as Promise<UserRow[]>,
    groups: async (organizationId: string) =>
      (await call(organizationId, 'GET', `/api/groups?organization_id=${organizationId}`)).json() as Promise<
        { id: string; name: string }[]
      >,
    sync: async (organizationId: string, query = '', headers: Record<string, string> = {}) => {
      const response = await call(organizationId, 'POST', `/api/sync?organization_id=${organizationId}${query}`, {
        headers,
      });
      return { status: response.status, body: await response.json() };
    },
  };
}

const ADMIN_ROUTES = [
  ['GET', '/api/users'],
  ['GET', '/api/groups'],
  ['POST', '/api/sync'],
] as const;

export function runExampleContractSuite(
  name: string,
  start: (env: ExampleEnv) => Promise<ExampleServer>,
  options: ExampleContractOptions,
): void {
  const secret = generateWebhookSecret();
  const databaseUrl = options.databaseUrl ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  // `examples/next (next build, next start)` → `next`: tables are named after the example and the run.
  const slug = /^(?:examples\/)?([a-z0-9]+)/i.exec(name)?.[1]?.toLowerCase() ?? 'example';
  const run = `${process.pid}_${randomBytes(3).toString('hex')}`;

  describe(`example contract: ${name}, in-memory store`, () => {
    runContract(start, secret, () => IN_MEMORY);
    runSessionExpiry(start, secret);
    runStartRefusals(start, secret);
  });

  const databases = [
    postgres(databaseUrl, options.connect),
    mysql(options.mysqlUrl ?? process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test', options.connectMysql),
  ];
  for (const database of databases) {
    describe(`example contract: ${name}, ${database.title}`, () => {
      let sql: SqlPool | undefined;
      const started: DatabaseEnv[] = [];
      /**
       * Fresh tables for one app start: the schema `scim_ex_hono_4242_a1b2c3_main` on PostgreSQL, the
       * prefix `scim_ex_hono_4242_a1b2c3_main_` on MySQL; dropped after the run.
       */
      const fresh = (tag: string): DatabaseEnv => {
        const env = database.env(`scim_ex_${slug}_${run}_${tag}`);
        started.push(env);
        return env;
      };
      const db = (): SqlPool => {
        sql ??= database.connect(database.url);
        return sql;
      };

      // Runs after the nested describes' own `afterAll`, so every app has stopped by then.
      afterAll(async () => {
        for (const env of started) await database.drop(db(), env);
        await sql?.end();
      });

      runContract(start, secret, fresh);
      runDatabaseChecks(start, secret, fresh, db, database);
    });
  }
}

/** The contract itself: the same tests on every store. `database(tag)` names the store of each app started. */
function runContract(
  start: (env: ExampleEnv) => Promise<ExampleServer>,
  secret: string,
  database: (tag: string) => DatabaseEnv,
): void {
  describe('with the Scalekit API variables', () => {
    const f = createEventFactory({ organizationId: 'org_example' });
    let fake: FakeScalekit;
    let server: ExampleServer;
    let base = '';
    const admin = adminClient(() => base);
    const webhook = (event: unknown) => deliverWebhook(`${base}/webhooks/scalekit`, event, { secret });
    const scimToken = `scim_${randomBytes(16).toString('hex')}`;
    // Two more customers' tokens in SCIM_TOKENS (digests only), and a second, rotated token of the first.
    const tenantToken = `scim_${randomBytes(16).toString('hex')}`;
    const rotatedToken = `scim_${randomBytes(16).toString('hex')}`;
    const digest = (token: string) => `sha256:${createHash('sha256').update(token).digest('base64url')}`;

    beforeAll(async () => {
      // Signs its webhooks with the app's secret, so the app accepts what the fake sends.
      fake = await startFakeScalekit({ webhookSecret: secret });
      server = await start({
        SCALEKIT_WEBHOOK_SECRET: secret,
        SCALEKIT_ENVIRONMENT_URL: fake.url,
        SCALEKIT_CLIENT_ID: fake.clientId,
        SCALEKIT_CLIENT_SECRET: fake.clientSecret,
        SCIM_BEARER_TOKEN: scimToken,
        SCIM_ORGANIZATION_ID: SCIM_ORGANIZATION,
        SCIM_TOKENS: `${SCIM_TENANT}=${digest(tenantToken)},\n${SCIM_ORGANIZATION}=${digest(rotatedToken)}`,
        DEMO_LOGIN: '1',
        SESSION_SECRET: `session_${randomBytes(16).toString('hex')}`,
        SESSION_TTL_SECONDS: '',
        ACCESS_RULES,
        ACCESS_RULES_FILE: '',
        ...database('main'),
      });
      base = server.url;
    });
    afterAll(async () => {
      await server?.close();
      await fake?.close();
    });

    it('writes webhook users into the app table that GET /api/users serves', async () => {
      await webhook(f.groupCreated({ id: 'dirgroup_1', display_name: 'Eng' }));
      const created = f.userCreated({
        id: 'diruser_1',
        email: 'ada@example.com',
        name: 'Ada Łovelace 🚀',
        groups: [{ id: 'dirgroup_1', name: 'Eng' }],
        roles: [{ role_name: 'admin' }],
      });
      expect((await webhook(created)).status).toBe(200);

      expect(await admin.users('org_example')).toEqual([
        expect.objectContaining({
          id: 'diruser_1',
          email: 'ada@example.com',
          name: 'Ada Łovelace 🚀',
          active: true,
          groups: ['dirgroup_1'],
          // Scalekit's `admin` role maps to the app's `admin`; every org_example user is a `member`.
          roles: ['admin', 'member'],
          directoryRoles: ['admin'],
        }),
      ]);
      expect(await admin.groups('org_example')).toEqual([expect.objectContaining({ id: 'dirgroup_1', name: 'Eng' })]);
      expect(await admin.users('org_other')).toEqual([]);
    });

    it('deactivates a deleted user instead of removing it', async () => {
      await webhook(f.userCreated({ id: 'diruser_2', email: 'b@example.com' }));
      await webhook(f.userDeleted({ id: 'diruser_2' }));
      const users = await admin.users('org_example');
      expect(users.find((u) => u.id === 'diruser_2')).toMatchObject({ active: false });
    });

    it("shows the organization's provisioning health on /settings (the last webhook applied), and only its own", async () => {
      const created = f.userCreated({ id: 'diruser_health', email: 'health@example.com' });
      expect((await webhook(created)).status).toBe(200);
      const field = (html: string, id: string) => new RegExp(`data-testid="${id}">([^<]*)<`).exec(html)?.[1];
      const page = await (await admin.fetch('org_example', 'GET', '/settings')).text();
      expect(page).toContain('Provisioning health');
      expect(field(page, 'health-last-applied')).toContain(`(${(created as { id: string }).id})`);
      expect(field(page, 'health-last-received')).toContain(`(applied, ${(created as { id: string }).id})`);
      expect(field(page, 'health-failures')).toBe('0');
      expect(field(page, 'health-reconciliation')).toBeDefined();
      const other = await (await admin.fetch('org_other', 'GET', '/settings')).text();
      expect(field(other, 'health-last-applied')).toBe('none yet');
      expect(other).not.toContain((created as { id: string }).id);
    });

    it('refuses a forged webhook with the JSON error', async () => {
      const forged = await deliverWebhook(`${base}/webhooks/scalekit`, f.userCreated({ id: 'diruser_3' }), {
        secret: generateWebhookSecret(),
      });
      expect(forged).toMatchObject({ status: 401, body: { error: { code: 'invalid_signature' } } });
    });

    it('serves SCIM 2.0 on the same handlers: a SCIM user lands in /api/users, and PATCH active=false deactivates it', async () => {
      const scim = (path: string, method: string, body?: unknown, token = scimToken) =>
        fetch(`${base}/scim/v2${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      const listed = () => admin.users(SCIM_ORGANIZATION);

      const created = await scim('/Users', 'POST', {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName: 'grace@example.com',
        displayName: 'Grace Hopper',
        emails: [{ value: 'grace@example.com', primary: true }],
        active: true,
      });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      expect(await listed()).toEqual([expect.objectContaining({ id, email: 'grace@example.com', active: true })]);

      const patched = await scim(`/Users/${id}`, 'PATCH', {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'replace', path: 'active', value: false }],
      });
      expect(patched.status).toBe(200);
      expect(await listed()).toEqual([expect.objectContaining({ id, active: false })]);

      expect((await scim('/Users', 'GET', undefined, 'scim_wrong')).status).toBe(401);
    });

    it("serves every customer with SCIM_TOKENS, and a token never sees another organization's users", async () => {
      const scim = (path: string, method: string, token: string, body?: unknown) =>
        fetch(`${base}/scim/v2${path}`, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      const created = await scim('/Users', 'POST', tenantToken, {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName: 'linus@tenant.example',
        active: true,
      });
      expect(created.status).toBe(201);
      const { id } = (await created.json()) as { id: string };
      expect(await admin.users(SCIM_TENANT)).toEqual([expect.objectContaining({ id, active: true })]);
      expect((await admin.users(SCIM_ORGANIZATION)).map((user) => user.id)).not.toContain(id);

      // The first customer's tokens (the original and the rotated one) cannot read, change or list it.
      for (const token of [scimToken, rotatedToken]) {
        expect((await scim(`/Users/${id}`, 'GET', token)).status).toBe(404);
        expect(
          (
            await scim(`/Users/${id}`, 'PATCH', token, {
              schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
              Operations: [{ op: 'replace', path: 'active', value: false }],
            })
          ).status,
        ).toBe(404);
        const listed = (await (
          await scim('/Users?filter=userName eq "linus@tenant.example"', 'GET', token)
        ).json()) as {
          totalResults: number;
        };
        expect(listed.totalResults).toBe(0);
      }
      expect(await admin.users(SCIM_TENANT)).toEqual([expect.objectContaining({ id, active: true })]);
      // The rotated token is the first customer's too.
      expect((await scim('/Users', 'GET', rotatedToken)).status).toBe(200);
    });

    describe('roles from the mapping (ACCESS_RULES)', () => {
      const roles = createEventFactory({ organizationId: 'org_roles' });
      const rolesOf = async (organizationId: string, id: string) =>
        (await admin.users(organizationId)).find((user) => user.id === id)?.roles;

      it('a webhook that adds a user to a mapped group grants its roles in /api/users; removing it revokes them', async () => {
        await webhook(roles.groupCreated({ id: 'dirgroup_admins', display_name: 'Admins' }));
        await webhook(roles.groupCreated({ id: 'dirgroup_staff', display_name: 'Staff' }));
        const alan = { id: 'diruser_alan', email: 'alan@example.com' };
        const joined = await webhook(roles.userCreated({ ...alan, groups: [{ id: 'dirgroup_staff', name: 'Staff' }] }));
        expect(joined).toMatchObject({ status: 200, body: { handlers: expect.arrayContaining(['accessChanged']) } });
        expect(await rolesOf('org_roles', 'diruser_alan')).toEqual(['member']);

        const promoted = roles.userUpdated({
          ...alan,
          groups: [
            { id: 'dirgroup_staff', name: 'Staff' },
            { id: 'dirgroup_admins', name: 'Admins' },
          ],
        });
        expect(await webhook(promoted)).toMatchObject({ status: 200, body: { status: 'applied' } });
        expect(await admin.users('org_roles')).toEqual([
          expect.objectContaining({
            id: 'diruser_alan',
            groups: ['dirgroup_admins', 'dirgroup_staff'],
            roles: ['admin', 'billing', 'member'],
            directoryRoles: [],
          }),
        ]);

        const demoted = await webhook(
          roles.userUpdated({ ...alan, groups: [{ id: 'dirgroup_staff', name: 'Staff' }] }),
        );
        expect(demoted).toMatchObject({ status: 200, body: { handlers: ['membershipRemoved', 'accessChanged'] } });
        expect(await rolesOf('org_roles', 'diruser_alan')).toEqual(['member']);
        // A profile change leaves the roles as they are: no accessChanged.
        const renamed = await webhook(
          roles.userUpdated({ ...alan, name: 'Alan T.', groups: [{ id: 'dirgroup_staff', name: 'Staff' }] }),
        );
        expect(renamed).toMatchObject({ status: 200, body: { handlers: ['userUpdated'] } });
        // Another organization's users never get this organization's roles.
        expect(await admin.users('org_other')).toEqual([]);
      });

      it("lists the organization's groups on /settings with the roles each maps to, and only its own", async () => {
        const page = await (await admin.fetch('org_roles', 'GET', '/settings')).text();
        const row = (id: string) =>
          new RegExp(`data-group-id="${id}">[\\s\\S]*?data-testid="group-roles">([\\s\\S]*?)</td>`)
            .exec(page)?.[1]
            ?.replace(/<[^>]+>/g, '');
        expect(row('dirgroup_admins')).toBe('admin, billing');
        expect(row('dirgroup_staff')).toBe('none');
        expect(page).toMatch(/data-testid="default-roles"><code>member<\/code><\/dd>/);
        const other = await (await admin.fetch('org_other', 'GET', '/settings')).text();
        expect(other).not.toContain('dirgroup_admins');
      });

      it('a SCIM PATCH that adds a member to a mapped group (matched by name) grants the role; removing it revokes it', async () => {
        const scim = async (method: string, path: string, body?: unknown) => {
          const response = await fetch(`${base}/scim/v2${path}`, {
            method,
            headers: { authorization: `Bearer ${scimToken}`, 'content-type': 'application/scim+json' },
            ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          });
          const text = await response.text();
          return { status: response.status, body: (text ? JSON.parse(text) : {}) as { id: string } };
        };
        const patch = (operation: Record<string, unknown>) => ({
          schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
          Operations: [operation],
        });
        const group = await scim('POST', '/Groups', {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
          displayName: 'App Admins',
        });
        expect(group.status).toBe(201);
        const user = await scim('POST', '/Users', {
          schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
          userName: 'barbara@example.com',
          active: true,
          roles: [{ value: 'admin' }],
        });
        expect(user.status).toBe(201);
        const id = user.body.id;
        // The SCIM `admin` role maps to nothing here: only the group does.
        expect(await admin.users(SCIM_ORGANIZATION)).toEqual(
          expect.arrayContaining([expect.objectContaining({ id, roles: [], directoryRoles: ['admin'] })]),
        );

        const added = await scim(
          'PATCH',
          `/Groups/${group.body.id}`,
          patch({ op: 'add', path: 'members', value: [{ value: id }] }),
        );
        expect([200, 204]).toContain(added.status);
        expect(await rolesOf(SCIM_ORGANIZATION, id)).toEqual(['admin']);

        const removed = await scim(
          'PATCH',
          `/Groups/${group.body.id}`,
          patch({ op: 'remove', path: `members[value eq "${id}"]` }),
        );
        expect([200, 204]).toContain(removed.status);
        expect(await rolesOf(SCIM_ORGANIZATION, id)).toEqual([]);
      });
    });

    describe('the admin routes answer only the signed-in admin of the organization', () => {
      it('answers 401 on /api/users, /api/groups and /api/sync when nobody is signed in', async () => {
        for (const [method, path] of ADMIN_ROUTES) {
          for (const query of ['', '?organization_id=org_example']) {
            const response = await fetch(`${base}${path}${query}`, {
              method,
              headers: { ...sameOrigin(base), ...(method === 'POST' && { 'content-type': 'application/json' }) },
              ...(method === 'POST' && { body: '{}' }),
            });
            expect(response.status, `${method} ${path}${query}`).toBe(401);
            expect(await response.json()).toMatchObject({ error: { code: 'unauthorized' } });
          }
        }
      });

      it("answers 403 to another organization's admin, and reconciles nothing for them", async () => {
        const before = await admin.users('org_example');
        const callsBefore = { ...fake.stats().calls };
        for (const [method, path] of ADMIN_ROUTES) {
          const response = await admin.fetch('org_other', method, `${path}?organization_id=org_example`);
          expect(response.status, `${method} ${path}`).toBe(403);
          expect(await response.json()).toMatchObject({ error: { code: 'forbidden' } });
        }
        const forced = await admin.fetch('org_other', 'POST', '/api/sync?organization_id=org_example&force=1');
        expect(forced.status).toBe(403);
        expect(fake.stats().calls).toEqual(callsBefore);
        expect(await admin.users('org_example')).toEqual(before);
      });

      it("acts on the session's organization when the query names none", async () => {
        const response = await admin.fetch('org_example', 'GET', '/api/users');
        expect(response.status).toBe(200);
        expect(await response.json()).toEqual(await admin.users('org_example'));
        const groups = await admin.fetch('org_example', 'GET', '/api/groups');
        expect(await groups.json()).toEqual([expect.objectContaining({ id: 'dirgroup_1' })]);
      });

      it('sets the session cookie HttpOnly, SameSite=Lax, Path=/, expiring in 8 hours, and Secure over https', async () => {
        const login = (headers: Record<string, string>) =>
          fetch(`${base}/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', ...sameOrigin(base), ...headers },
            body: 'organization_id=org_example',
            redirect: 'manual',
          });
        const plain = (await login({})).headers.get('set-cookie') ?? '';
        const attributes = plain
          .split(';')
          .slice(1)
          .map((a) => a.trim().toLowerCase());
        expect(attributes).toEqual(expect.arrayContaining(['path=/', 'httponly', 'samesite=lax', 'max-age=28800']));
        expect(attributes).not.toContain('secure');
        const secure = (await login({ 'x-forwarded-proto': 'https' })).headers.get('set-cookie') ?? '';
        expect(secure.split(';').map((a) => a.trim().toLowerCase())).toContain('secure');
      });

      it('ends the session at sign-out: a cookie copied before /logout answers 401 afterwards', async () => {
        const cookie = await signIn(base, 'org_example');
        const users = () => fetch(`${base}/api/users`, { headers: { cookie } });
        expect((await users()).status).toBe(200);

        const crossSite = await fetch(`${base}/logout`, {
          method: 'POST',
          headers: { cookie, 'sec-fetch-site': 'cross-site', 'content-type': 'application/x-www-form-urlencoded' },
          redirect: 'manual',
        });
        expect(crossSite.status).toBe(403);
        expect((await users()).status).toBe(200);

        const logout = await fetch(`${base}/logout`, {
          method: 'POST',
          headers: { cookie, ...sameOrigin(base) },
          redirect: 'manual',
        });
        expect(logout.status).toBe(303);
        expect(logout.headers.get('set-cookie')).toMatch(new RegExp(`^${SESSION_COOKIE}=;.*Max-Age=0`, 'i'));
        for (const [method, path] of ADMIN_ROUTES) {
          const response = await fetch(`${base}${path}`, {
            method,
            headers: { cookie, ...sameOrigin(base), 'content-type': 'application/json' },
            ...(method === 'POST' && { body: '{}' }),
          });
          expect(response.status, `${method} ${path}`).toBe(401);
        }
        expect((await fetch(`${base}/api/admin-portal/link`, { headers: { cookie } })).status).toBe(401);
      });

      it("reports a portal link Scalekit failed (502, the app's credentials refused) with its cause", async () => {
        fake.faults.unauthenticated({ method: 'GeneratePortalLink', times: 4 });
        try {
          const response = await admin.fetch('org_example', 'GET', '/api/admin-portal/link');
          expect(response.status).toBe(502);
          expect(await response.json()).toMatchObject({ error: { code: 'scalekit_unauthorized' } });
          await expect
            .poll(() => server.serverErrors())
            .toMatch(/GET \/api\/admin-portal\/link answered 502 scalekit_unauthorized: .*org_example[\s\S]*cause: /);
        } finally {
          fake.faults.clear();
        }
      });

      it('answers a sign-in with an oversized body with a 4xx, never a 5xx, and sets no session', async () => {
        const response = await fetch(`${base}/login`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', ...sameOrigin(base) },
          body: `organization_id=${'a'.repeat(200_000)}`,
          redirect: 'manual',
        });
        expect(response.status).toBeGreaterThanOrEqual(400);
        expect(response.status).toBeLessThan(500);
        expect(response.headers.get('set-cookie')).toBeNull();
      });

      it('refuses a sign-in posted from another site (no session set)', async () => {
        const foreign: Record<string, string>[] = [
          { 'sec-fetch-site': 'cross-site' },
          { origin: 'https://evil.example' },
        ];
        for (const headers of foreign) {
          const response = await fetch(`${base}/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
            body: 'organization_id=org_example',
            redirect: 'manual',
          });
          expect(response.status).toBe(403);
          expect(response.headers.get('set-cookie')).toBeNull();
        }
      });

      it('answers 401, never 5xx, to malformed, forged, huge or repeated session cookies', async () => {
        const genuine = await admin.cookie('org_example');
        const [, value = ''] = genuine.split('=');
        const [org, id, expiry, mac] = value.split('.');
        const cookies = [
          `${SESSION_COOKIE}=%`,
          `${SESSION_COOKIE}=%E0%A4%A`,
          `${SESSION_COOKIE}=${encodeURIComponent(value)}%`,
          `${SESSION_COOKIE}=`,
          `${SESSION_COOKIE}=....`,
          `${SESSION_COOKIE}=__proto__.constructor.prototype.x`,
          // Another organization, or a later expiry, under the genuine session id and signature.
          `${SESSION_COOKIE}=org_other.${id}.${expiry}.${mac}`,
          `${SESSION_COOKIE}=${org}.${id}.${Number(expiry) + 1000}.${mac}`,
          `${SESSION_COOKIE}=${org}.${randomBytes(16).toString('base64url')}.${expiry}.${mac}`,
          `${SESSION_COOKIE}=${'a'.repeat(10_000)}`,
          `${genuine}${'x'.repeat(9_000)}`,
          Array.from({ length: 300 }, (_, i) => `${SESSION_COOKIE}=${i}`).join('; '),
          `${Array.from({ length: 1_500 }, (_, i) => `c${i}=1`).join('; ')}; ${genuine}`,
        ];
        const routes = [...ADMIN_ROUTES, ['GET', '/api/admin-portal/link'] as const];
        for (const cookie of cookies) {
          const answers = await Promise.all(
            routes.map(([method, path]) =>
              fetch(`${base}${path}`, {
                method,
                headers: { cookie, ...sameOrigin(base), 'content-type': 'application/json' },
                ...(method === 'POST' && { body: '{}' }),
              }),
            ),
          );
          expect(
            answers.map((a) => a.status),
            cookie.slice(0, 60),
          ).toEqual(routes.map(() => 401));
          const settings = await fetch(`${base}/settings`, { headers: { cookie }, redirect: 'manual' });
          expect(settings.status).toBe(303);
          expect(settings.headers.get('location')).toBe('/login');
        }
        expect((await fetch(`${base}/api/users`, { headers: { cookie: genuine } })).status).toBe(200);
      }, 30_000);
    });

    describe('POST /api/sync: reconciliation against the Directory API', () => {
      const org = 'org_sync';
      const sync = (query = '', headers: Record<string, string> = {}) => admin.sync(org, query, headers);
      const appUsers = () => admin.users(org);
      const byId = (users: UserRow[], id: string) => users.find((u) => u.id === id);

      beforeAll(() => {
        fake.addOrganization({ id: org });
        fake.addDirectory(org);
        fake.upsertGroup(org, { id: 'dirgroup_eng', displayName: 'Engineering' });
        fake.upsertGroup(org, { id: 'dirgroup_ops', displayName: 'Operations' });
        const people = [
          ['ada', 'Ada', 'Lovelace', ['dirgroup_eng']],
          ['grace', 'Grace', 'Hopper', ['dirgroup_eng', 'dirgroup_ops']],
          ['linus', 'Linus', 'Ødegård', []],
          ['ken', 'Ken', 'Thompson', ['dirgroup_ops']],
        ] as const;
        for (const [id, givenName, familyName, groups] of people) {
          fake.upsertUser(org, {
            id: `diruser_${id}`,
            email: `${id}@example.com`,
            givenName,
            familyName,
            groups: [...groups],
            roles: id === 'ada' ? ['admin'] : ['member'],
          });
        }
        // The app never heard of them: reconciliation alone must bring them in.
        fake.webhooks.drop();
      });

      it('refuses a cross-site POST (Sec-Fetch-Site, or a foreign Origin) with 403, and writes nothing', async () => {
        const callsBefore = { ...fake.stats().calls };
        for (const headers of [
          { 'sec-fetch-site': 'cross-site' },
          { 'sec-fetch-site': 'same-site' },
          { 'sec-fetch-site': 'cross-site', origin: base },
          { 'sec-fetch-site': '', origin: 'https://evil.example' },
          { 'sec-fetch-site': '', origin: 'null' },
          { 'sec-fetch-site': '', origin: `${base}.evil.example` },
        ]) {
          const plain = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== ''));
          const response = await fetch(`${base}/api/sync?organization_id=${org}&force=1`, {
            method: 'POST',
            headers: { cookie: await admin.cookie(org), 'content-type': 'application/json', ...plain },
            body: '{}',
          });
          expect(response.status, JSON.stringify(plain)).toBe(403);
          expect(await response.json()).toMatchObject({ error: { code: 'cross_site_request' } });
        }
        expect(fake.stats().calls).toEqual(callsBefore);
        expect(await appUsers()).toEqual([]);
      });

      it('answers 415 to a form-encoded (or text/plain) POST, which a cross-site form could send, and writes nothing', async () => {
        for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
          const response = await admin.fetch(org, 'POST', `/api/sync?organization_id=${org}`, {
            headers: { 'content-type': type },
            body: type.startsWith('multipart') ? '--x--\r\n' : 'force=1',
          });
          expect(response.status, type).toBe(415);
        }
        expect(await appUsers()).toEqual([]);
      });

      it('creates the directory it lists, on a same-origin fetch with the session: users with their groups and roles, and the groups', async () => {
        const { status, body } = await sync();
        expect(status).toBe(200);
        expect(body).toMatchObject({
          status: 'completed',
          organizationId: org,
          dryRun: false,
          users: { listed: 4, created: 4 },
          groups: { listed: 2, created: 2 },
        });
        const users = await appUsers();
        expect(users.map((u) => u.id)).toEqual(['diruser_ada', 'diruser_grace', 'diruser_ken', 'diruser_linus']);
        expect(byId(users, 'diruser_grace')).toMatchObject({
          email: 'grace@example.com',
          name: 'Grace Hopper',
          active: true,
          groups: ['dirgroup_eng', 'dirgroup_ops'],
          // Scalekit's `member` maps to nothing in the default rule set; its `admin` to `admin`.
          roles: [],
          directoryRoles: ['member'],
        });
        expect(byId(users, 'diruser_ada')).toMatchObject({
          active: true,
          groups: ['dirgroup_eng'],
          roles: ['admin'],
          directoryRoles: ['admin'],
        });
        expect(byId(users, 'diruser_linus')).toMatchObject({ name: 'Linus Ødegård', groups: [] });
        expect(await admin.groups(org)).toEqual([
          expect.objectContaining({ id: 'dirgroup_eng', name: 'Engineering' }),
          expect.objectContaining({ id: 'dirgroup_ops', name: 'Operations' }),
        ]);
      });

      it('writes nothing and calls no handler when nothing changed remotely (a browser without Sec-Fetch-Site: Origin alone)', async () => {
        const { status, body } = await sync('', { 'sec-fetch-site': '' });
        expect(status).toBe(200);
        expect(body).toMatchObject({
          status: 'completed',
          events: 0,
          handlerCalls: 0,
          users: { unchanged: 4, created: 0 },
          groups: { unchanged: 2 },
        });
      });

      it('dry_run=1 answers the plan and changes nothing', async () => {
        fake.removeUser(org, 'diruser_linus');
        fake.upsertUser(org, { id: 'diruser_margaret', email: 'margaret@example.com', givenName: 'Margaret' });
        fake.webhooks.drop();
        const before = await appUsers();

        const { status, body } = await sync('&dry_run=1');
        expect(status).toBe(200);
        expect(body).toMatchObject({ status: 'completed', dryRun: true, events: 0, handlerCalls: 0 });
        expect(body.plan).toEqual(
          expect.arrayContaining([
            { kind: 'user', action: 'create', id: 'diruser_margaret' },
            { kind: 'user', action: 'remove', id: 'diruser_linus' },
          ]),
        );
        expect(await appUsers()).toEqual(before);
      });

      it('catches up on missed webhooks: creates the new user, deactivates the removed one', async () => {
        const { status, body } = await sync();
        expect(status).toBe(200);
        expect(body).toMatchObject({
          status: 'completed',
          users: { created: 1, deactivated: 1, removed: 1, unchanged: 3 },
        });
        const users = await appUsers();
        expect(byId(users, 'diruser_margaret')).toMatchObject({ email: 'margaret@example.com', active: true });
        expect(byId(users, 'diruser_linus')).toMatchObject({ active: false });
      });

      it('mode=incremental lists what changed since the last run and changes nothing here', async () => {
        const { status, body } = await sync('&mode=incremental');
        expect(status).toBe(200);
        expect(body).toMatchObject({ status: 'completed', mode: 'incremental', events: 0 });
      });

      it('agrees with the webhooks: after every webhook arrived, a sync changes nothing', async () => {
        fake.upsertUser(org, { id: 'diruser_barbara', email: 'barbara@example.com', groups: ['dirgroup_ops'] });
        fake.upsertUser(org, { id: 'diruser_ken', familyName: 'Thompson (Bell Labs)' });
        const delivered = await fake.webhooks.deliver(`${base}/webhooks/scalekit`);
        expect(delivered.map((d) => d.status)).toEqual([200, 200]);

        const { body } = await sync();
        expect(body).toMatchObject({ status: 'completed', events: 0, handlerCalls: 0 });
        expect(byId(await appUsers(), 'diruser_ken')).toMatchObject({ name: 'Ken Thompson (Bell Labs)' });
      });

      it('stops before a mass deactivation (200, guard_tripped) and applies it with force=1', async () => {
        fake.removeUser(org, 'diruser_ada');
        fake.removeUser(org, 'diruser_grace');
        fake.webhooks.drop();

        const tripped = await sync();
        expect(tripped.status).toBe(200);
        expect(tripped.body).toMatchObject({ status: 'guard_tripped', guard: { users: { tripped: true } } });
        expect(byId(await appUsers(), 'diruser_ada')).toMatchObject({ active: true });

        const forced = await sync('&force=1');
        expect(forced).toMatchObject({ status: 200, body: { status: 'completed', users: { deactivated: 2 } } });
        expect(byId(await appUsers(), 'diruser_ada')).toMatchObject({ active: false });
      });

      it('answers 409 already_running while a run of the same organization holds the lock', async () => {
        // The first run is rate limited twice and backs off, holding the lock, for at least 750 ms in all.
        const faultsBefore = fake.stats().faultsInjected;
        fake.faults.rateLimit({ method: 'ListDirectoryGroups', times: 2 });
        const first = sync();
        const deadline = Date.now() + 5_000;
        while (fake.stats().faultsInjected === faultsBefore && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        const second = await sync();
        expect(second).toMatchObject({ status: 409, body: { error: { code: 'already_running' } } });
        expect(await first).toMatchObject({ status: 200, body: { status: 'completed' } });
      });

      it('answers 502 with the failed report when Scalekit fails (unknown organization), and reports it with its cause', async () => {
        const failed = await admin.sync('org_unknown');
        expect(failed).toMatchObject({ status: 502, body: { status: 'failed', error: { code: 'not_found' } } });
        const { runId } = failed.body as { runId: string };
        await expect
          .poll(() => server.serverErrors())
          .toMatch(new RegExp(`POST /api/sync answered 502 not_found: .+\\n  cause: .*"runId":"${runId}"`));
      });

      it('refuses an unknown option with a JSON error', async () => {
        expect(await sync('&mode=sideways')).toMatchObject({ status: 400, body: { error: { code: 'invalid_query' } } });
      });
    });
  });

  describe('without the Scalekit API variables', () => {
    let server: ExampleServer;
    const admin = adminClient(() => server.url);

    beforeAll(async () => {
      server = await start({
        ...webhooksOnly(secret),
        ...database('noapi'),
      });
    });
    afterAll(async () => {
      await server?.close();
    });

    it('answers POST /api/sync with 503 naming the missing variables (reported), and still takes webhooks', async () => {
      const response = await admin.fetch('org_example', 'POST', '/api/sync');
      expect(response.status).toBe(503);
      const { error } = (await response.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('sync_not_configured');
      expect(error.message).toMatch(/SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID, SCALEKIT_CLIENT_SECRET/);
      await expect.poll(() => server.serverErrors()).toMatch(/POST \/api\/sync answered 503 sync_not_configured/);

      const f = createEventFactory({ organizationId: 'org_example' });
      const delivered = await deliverWebhook(
        `${server.url}/webhooks/scalekit`,
        f.userCreated({ id: 'diruser_1', email: 'ada@example.com' }),
        { secret },
      );
      expect(delivered.status).toBe(200);
      expect(await admin.users('org_example')).toEqual([expect.objectContaining({ id: 'diruser_1', active: true })]);
    });

    it('answers /scim/v2/* with 503 naming the missing SCIM variables (reported)', async () => {
      const response = await fetch(`${server.url}/scim/v2/Users`, { headers: { authorization: 'Bearer scim_x' } });
      expect(response.status).toBe(503);
      const { error } = (await response.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe('scim_not_configured');
      expect(error.message).toMatch(/SCIM_BEARER_TOKEN, SCIM_ORGANIZATION_ID/);
      await expect.poll(() => server.serverErrors()).toMatch(/GET \/scim\/v2\/Users answered 503 scim_not_configured/);
    });
  });
}

/**
 * A session outlives neither its time (`SESSION_TTL_SECONDS`, here 1) nor the process. One app, on
 * the in-memory store: sessions do not depend on the store.
 */
function runSessionExpiry(start: (env: ExampleEnv) => Promise<ExampleServer>, secret: string): void {
  describe('the demo session expires', () => {
    let server: ExampleServer;

    beforeAll(async () => {
      server = await start({
        ...webhooksOnly(secret),
        SESSION_SECRET: 'example-contract-expiry',
        SESSION_TTL_SECONDS: '1',
        ...IN_MEMORY,
      });
    });
    afterAll(async () => {
      await server?.close();
    });

    it('answers 401 on every admin route once the session has expired', async () => {
      // Warm up first (Next.js loads a route at its first request): the session's one second is for the test.
      expect((await fetch(`${server.url}/api/users`)).status).toBe(401);
      const cookie = await signIn(server.url, 'org_example');
      const call = (method: string, path: string) =>
        fetch(`${server.url}${path}`, {
          method,
          headers: { cookie, ...sameOrigin(server.url), 'content-type': 'application/json' },
          ...(method === 'POST' && { body: '{}' }),
        });
      expect((await call('GET', '/api/users')).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 1_100));
      for (const [method, path] of ADMIN_ROUTES) expect((await call(method, path)).status, path).toBe(401);
    });
  });
}

/** A bad role mapping stops the app at start, with a message naming the variable, the organization and the problem. */
function runStartRefusals(start: (env: ExampleEnv) => Promise<ExampleServer>, secret: string): void {
  describe('refuses to start with a bad role mapping', () => {
    /** Starts the app; answers why it refused (it must). */
    const refusal = async (access: Pick<ExampleEnv, 'ACCESS_RULES' | 'ACCESS_RULES_FILE'>) => {
      const started = await start({ ...webhooksOnly(secret), ...IN_MEMORY, ...access }).then(
        (server) => server,
        (error: unknown) => String(error),
      );
      if (typeof started === 'string') return started;
      await started.close();
      throw new Error('the app started with a bad ACCESS_RULES');
    };

    it('ACCESS_RULES with an empty grant, or not JSON; ACCESS_RULES_FILE naming no file', async () => {
      const badGrant = { organizations: { org_9: { rules: [{ match: 'groupId', value: 'dirgroup_1', grant: [] }] } } };
      expect(await refusal({ ACCESS_RULES: JSON.stringify(badGrant), ACCESS_RULES_FILE: '' })).toMatch(
        /ACCESS_RULES, organization org_9: Invalid access rules: rules\.0\.grant /,
      );
      expect(await refusal({ ACCESS_RULES: '{"rules": [', ACCESS_RULES_FILE: '' })).toMatch(
        /ACCESS_RULES is not JSON: /,
      );
      const missing = join(tmpdir(), `scim-example-no-such-${randomBytes(4).toString('hex')}.json`);
      expect(await refusal({ ACCESS_RULES: '', ACCESS_RULES_FILE: missing })).toMatch(
        /ACCESS_RULES_FILE names ".*", which cannot be read \(ENOENT\)/,
      );
    }, 60_000);
  });
}

/**
 * What only a shared database gives: the handlers write the app's tables through the event's
 * transaction, so the app's row and the ledger entry commit together (or neither does), and both
 * outlive the process.
 */
function runDatabaseChecks(
  start: (env: ExampleEnv) => Promise<ExampleServer>,
  secret: string,
  database: (tag: string) => DatabaseEnv,
  db: () => SqlPool,
  dialect: Database,
): void {
  describe("the app's rows commit with the ledger, and outlive the process", () => {
    const org = 'org_tx';
    const f = createEventFactory({ organizationId: org });
    let env: ExampleEnv;
    let server: ExampleServer | undefined;
    // Sessions live in the app's memory: a new client (a new sign-in) after each restart.
    let admin = adminClient(() => server?.url ?? '');
    const webhook = (event: unknown) => deliverWebhook(`${server?.url}/webhooks/scalekit`, event, { secret });
    const appUsers = () => admin.users(org);

    /** Runs `text` with `$s.<table>` standing for the app's quoted table, `$1`… for its parameters. */
    const query = async (text: string, values: unknown[]) =>
      (
        await db().query(
          dialect.parameters(text.replace(/\$s\.(\w+)/g, (_, table: string) => dialect.table(env, table))),
          values,
        )
      ).rows;
    // MySQL's booleans are TINYINT(1): 1 and 0.
    const appRows = async (userId: string) =>
      (
        await query('select id, email, active from $s.app_users where organization_id = $1 and id = $2', [org, userId])
      ).map((row) => ({ ...row, active: Boolean(row.active) }));
    const memberships = (userId: string) =>
      query('select group_id from $s.app_memberships where organization_id = $1 and user_id = $2 order by group_id', [
        org,
        userId,
      ]);
    const ledger = (eventId: string) => query('select state, outcome from $s.ledger where event_id = $1', [eventId]);
    const mirror = (userId: string) =>
      query('select id from $s.users where organization_id = $1 and id = $2', [org, userId]);

    // The role mapping from a file (ACCESS_RULES_FILE): the team's members are `team`.
    const rulesFile = join(mkdtempSync(join(tmpdir(), 'scim-example-roles-')), 'roles.json');
    writeFileSync(
      rulesFile,
      JSON.stringify({
        organizations: { [org]: { rules: [{ match: 'groupId', value: 'dirgroup_team', grant: ['team'] }] } },
      }),
    );
    const carol = f.userCreated({ id: 'diruser_carol', email: 'carol@example.com', name: 'Carol' });
    const team = f.groupCreated({ id: 'dirgroup_team', display_name: 'Team' });
    // Another user with Carol's address: the app's unique index on active e-mails refuses the insert.
    const dave = f.userCreated({
      id: 'diruser_dave',
      email: 'CAROL@example.com',
      name: 'Dave',
      groups: [{ id: 'dirgroup_team', name: 'Team' }],
    });

    beforeAll(async () => {
      env = {
        ...webhooksOnly(secret),
        ACCESS_RULES_FILE: rulesFile,
        ...database('tx'),
      };
      server = await start(env);
    });
    afterAll(async () => {
      await server?.close();
    });

    it('an applied event leaves the app row and its ledger entry, together', async () => {
      expect(await webhook(carol)).toMatchObject({ status: 200, body: { status: 'applied' } });
      expect(await webhook(team)).toMatchObject({ status: 200, body: { status: 'applied' } });
      expect(await appRows('diruser_carol')).toEqual([
        { id: 'diruser_carol', email: 'carol@example.com', active: true },
      ]);
      expect(await ledger(carol.id)).toEqual([{ state: 'done', outcome: 'applied' }]);
    });

    it('a handler that fails leaves neither the app row (nor its roles) nor the ledger entry; the redelivery after the fix applies once', async () => {
      const failed = await webhook(dave);
      expect(failed).toMatchObject({ status: 500, body: { error: { code: 'handler_failed' } } });
      // Rolled back whole: no app row, no membership, no ledger entry, no mirror row.
      expect(await appRows('diruser_dave')).toEqual([]);
      expect(await memberships('diruser_dave')).toEqual([]);
      expect(await ledger(dave.id)).toEqual([]);
      expect(await mirror('diruser_dave')).toEqual([]);
      expect((await appUsers()).map((u) => u.id)).toEqual(['diruser_carol']);
      // The 500 reached the app's error hook with what caused it: the unique index the handler hit.
      await expect
        .poll(() => server?.serverErrors())
        .toMatch(/POST \/webhooks\/scalekit answered 500 handler_failed[\s\S]*app_users_active_email/);

      // The fix: Carol's address changes in the directory. Then Scalekit's redelivery goes through, once.
      const moved = f.userUpdated({ id: 'diruser_carol', email: 'carol.old@example.com', name: 'Carol' });
      expect(await webhook(moved)).toMatchObject({ status: 200, body: { status: 'applied' } });
      expect(await webhook(dave)).toMatchObject({
        status: 200,
        body: { status: 'applied', handlers: ['userCreated', 'membershipAdded', 'accessChanged'] },
      });
      expect(await webhook(dave)).toMatchObject({ status: 200, body: { status: 'duplicate', handlers: [] } });

      expect(await appRows('diruser_dave')).toEqual([{ id: 'diruser_dave', email: 'CAROL@example.com', active: true }]);
      expect(await memberships('diruser_dave')).toEqual([{ group_id: 'dirgroup_team' }]);
      expect(await ledger(dave.id)).toEqual([{ state: 'done', outcome: 'applied' }]);
      expect(await appUsers()).toEqual([
        expect.objectContaining({
          id: 'diruser_carol',
          email: 'carol.old@example.com',
          active: true,
          groups: [],
          roles: [],
        }),
        expect.objectContaining({
          id: 'diruser_dave',
          email: 'CAROL@example.com',
          groups: ['dirgroup_team'],
          roles: ['team'],
        }),
      ]);
    });

    // A restart of the app's process (a Next.js server's start-up included), and its database's migrations.
    it('keeps users, their roles and the ledger across a restart: a redelivered event is a duplicate, a new one applies', async () => {
      const before = await appUsers();
      const cookie = await admin.cookie(org);
      await server?.close();
      server = undefined;
      server = await start(env); // the same DATABASE_URL and DATABASE_SCHEMA or DATABASE_TABLE_PREFIX

      // The demo's sessions lived in the old process: its cookie is nobody now.
      expect((await fetch(`${server.url}/api/users`, { headers: { cookie } })).status).toBe(401);
      admin = adminClient(() => server?.url ?? '');
      expect(await appUsers()).toEqual(before);
      expect(await admin.groups(org)).toEqual([expect.objectContaining({ id: 'dirgroup_team', name: 'Team' })]);
      for (const event of [carol, team, dave]) {
        expect(await webhook(event)).toMatchObject({ status: 200, body: { status: 'duplicate', handlers: [] } });
      }
      expect(await webhook(f.userDeleted({ id: 'diruser_dave' }))).toMatchObject({
        status: 200,
        body: { status: 'applied', handlers: ['membershipRemoved', 'accessChanged', 'userDeactivated'] },
      });
      expect((await appUsers()).find((u) => u.id === 'diruser_dave')).toMatchObject({
        active: false,
        groups: [],
        roles: [],
      });
    }, 30_000);

    it('answers a route that throws (its table is gone) with a JSON 500, and reports the cause', async () => {
      await query(dialect.rename(env, 'app_users', 'app_users_away'), []);
      try {
        const response = await admin.fetch(org, 'GET', '/api/users');
        expect(response.status).toBe(500);
        expect(await response.json()).toMatchObject({ error: { code: 'internal_error' } });
        await expect
          .poll(() => server?.serverErrors())
          .toMatch(new RegExp(`GET /api/users answered 500 internal_error[\\s\\S]*${dialect.missing('app_users')}`));
      } finally {
        await query(dialect.rename(env, 'app_users_away', 'app_users'), []);
      }
      expect((await admin.fetch(org, 'GET', '/api/users')).status).toBe(200);
    });
  });
}
