/**
 * SCIM writes on PostgreSQL, over real HTTP: each request's event has a fresh id no retry sends
 * again, so the engine applies it without the ledger (engine/own-events.ts in scim-core). What that
 * must show on a real database: no ledger row and no claim's round trip for any write, each change
 * still applied once and in order, and the handlers called as before.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createEngine,
  createScimServer,
  generateScimToken,
  handleScimNodeRequest,
  type ProvisioningHandlers,
  scimTokenAuthenticator,
} from '@org/scim-core';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { DATABASE_URL, freshSchema, watchRoundTrips } from './database.js';

const ORG = 'org_scim_writes';
let pool: pg.Pool;
let store: PostgresStore;
let server: Server;
let base: string;
const token = generateScimToken();
/** Handler calls, as `name target`. */
const calls: string[] = [];
/** The text of each round trip (`client.query` call) since the last reset. */
let sent: string[] = [];

beforeAll(async () => {
  // One connection, so its statements are prepared once, by the first request.
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 1 });
  watchRoundTrips(pool, (text) => {
    sent.push(text);
  });
  store = postgresStore({ pool, schema: freshSchema('scim_writes') });
  await store.migrate();
  const record =
    (name: string) => (arg: { user?: { userName?: string }; group?: { id: string; displayName?: string } }) =>
      void calls.push(`${name} ${arg.user?.userName ?? arg.group?.displayName ?? arg.group?.id ?? ''}`);
  const names = ['userCreated', 'userUpdated', 'userDeactivated', 'userReactivated', 'groupCreated'];
  const handlers: ProvisioningHandlers = Object.fromEntries(
    [...names, 'membershipAdded', 'membershipRemoved'].map((name) => [name, record(name)]),
  );
  const scim = createScimServer({
    engine: createEngine({ store, handlers }),
    authenticator: scimTokenAuthenticator([{ organizationId: ORG, tokenHash: token.tokenHash }]),
  });
  server = createServer((request, response) => void handleScimNodeRequest(scim, { request, response }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/scim/v2`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await pool.query(`drop schema if exists ${store.schema} cascade`);
  await store.close();
  await pool.end();
});

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary SCIM JSON.
async function scim(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/scim+json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text) };
}

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

it('applies every SCIM write once, in order, with no ledger row and no claim round trip', async () => {
  // The first write prepares the connection's statements: not counted.
  const warm = await scim('POST', '/Users', { schemas: [USER], userName: 'warm@example.com', active: true });
  expect(warm.status).toBe(201);

  sent = [];
  const created = await scim('POST', '/Users', { schemas: [USER], userName: 'ada@example.com', active: true });
  expect(created.status).toBe(201);
  const id = created.body.id as string;
  // Its transaction is one `begin` and one `commit`, and no round trip before it claims the event.
  expect(sent.filter((text) => /^\s*begin\b/.test(text))).toHaveLength(1);
  expect(sent.filter((text) => /\bcommit\s*$/.test(text))).toHaveLength(1);
  const off = await scim('PATCH', `/Users/${id}`, {
    schemas: [PATCH],
    Operations: [{ op: 'replace', path: 'active', value: false }],
  });
  expect(off.status).toBe(200);
  const group = await scim('POST', '/Groups', { schemas: [GROUP], displayName: 'Engineering', members: [] });
  expect(group.status).toBe(201);
  const joined = await scim('PATCH', `/Groups/${group.body.id}`, {
    schemas: [PATCH],
    Operations: [{ op: 'add', path: 'members', value: [{ value: id }] }],
  });
  expect(joined.status).toBeLessThan(300);
  const on = await scim('PATCH', `/Users/${id}`, {
    schemas: [PATCH],
    Operations: [{ op: 'replace', path: 'active', value: true }],
  });
  expect(on.status).toBe(200);
  expect((await scim('DELETE', `/Users/${id}`)).status).toBe(204);
  // No request read or wrote the ledger (the store's own prepared statements are named by hash:
  // the ledger appears in a round trip's text only where a statement is sent in full).
  expect(sent.filter((text) => text.includes('.ledger'))).toEqual([]);

  expect(calls).toEqual([
    'userCreated warm@example.com',
    'userCreated ada@example.com',
    'userDeactivated ada@example.com',
    'groupCreated Engineering',
    'membershipAdded ada@example.com',
    'userReactivated ada@example.com',
    'membershipRemoved ada@example.com',
    'userDeactivated ada@example.com',
  ]);
  // Every write holds its version; none left a ledger row.
  const ledger = await pool.query<{ n: number }>(
    `select count(*)::int as n from ${store.schema}.ledger where organization_id = $1`,
    [ORG],
  );
  expect(ledger.rows[0]?.n).toBe(0);
  const versions = await pool.query<{ n: number }>(
    `select count(*)::int as n from ${store.schema}.versions where organization_id = $1 and event_id like 'scim\\_%'`,
    [ORG],
  );
  expect(versions.rows[0]?.n).toBe(3);
  expect((await scim('GET', `/Users/${id}`)).status).toBe(404);
});
