/**
 * App roles from the directory on PostgreSQL (issue 16): `accessChanged` commits with the event
 * (the app's own role table written through `transactionClient(tx)`) or rolls back with it; a
 * rename matched by name re-evaluates a group of more members than a transaction locks one by one
 * (the organization locked whole); a group deleted; the SCIM server over real HTTP; a re-evaluation
 * after a rule change, planned then applied; what a deleted user leaves (its manual roles, none after a hard delete).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AccessChanged,
  createEngine,
  createScimServer,
  generateScimToken,
  handleScimNodeRequest,
  PATCH_OP_SCHEMA,
  scimTokenAuthenticator,
} from '@org/scim-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_RESOURCE_LOCKS, type PostgresStore, postgresStore, transactionClient } from '../src/index.js';
import { accessEvent, person } from './access-events.js';
import { DATABASE_URL, freshSchema } from './database.js';

let store: PostgresStore;
let fail = false;
/** Every accessChanged call that committed, read back from the app's own table. */
const appRoles = async (organizationId: string) => {
  const { rows } = await store.pool.query<{ user_id: string; roles: string[] }>(
    `select user_id, roles from ${store.schema}.app_roles where organization_id = $1 order by user_id`,
    [organizationId],
  );
  return Object.fromEntries(rows.map((r) => [r.user_id, r.roles]));
};
const calls: { eventId: string; user: string; granted: readonly string[]; revoked: readonly string[] }[] = [];

function accessChanged(change: AccessChanged) {
  calls.push({ eventId: change.event.id, user: change.user.id, granted: change.granted, revoked: change.revoked });
  if (fail) throw new Error('the app is down');
  return transactionClient(change.tx).query(
    `insert into ${store.schema}.app_roles (organization_id, user_id, roles) values ($1, $2, $3)
     on conflict (organization_id, user_id) do update set roles = excluded.roles`,
    [change.organizationId, change.user.id, change.roles],
  );
}

beforeAll(async () => {
  // The limit pinned: the sizes these tests cross must not follow the server's lock table.
  store = postgresStore({
    connectionString: DATABASE_URL,
    schema: freshSchema('access'),
    resourceLockLimit: MAX_RESOURCE_LOCKS,
  });
  await store.migrate();
  await store.pool.query(
    `create table ${store.schema}.app_roles (organization_id text, user_id text, roles text[], primary key (organization_id, user_id))`,
  );
});
afterAll(async () => {
  await store.pool.query(`drop schema ${store.schema} cascade`);
  await store.close();
});

const event = (organizationId: string, change: Record<string, unknown>) =>
  accessEvent('access', organizationId, change);

describe('access on PostgreSQL', () => {
  it("commits the app's role write with the event, and rolls both back when the handler fails", async () => {
    const org = 'org_commit';
    const engine = createEngine({ store, handlers: { accessChanged } });
    await engine.access?.putRules(
      org,
      { defaultRoles: ['member'], rules: [{ match: 'role', value: 'owner', grant: ['admin'] }] },
      0,
    );
    await engine.process(event(org, { type: 'user.upserted', user: person(org, 'u1') }));
    expect(await appRoles(org)).toEqual({ u1: ['member'] });
    fail = true;
    const change = event(org, { type: 'user.upserted', user: person(org, 'u1', { roles: ['owner'] }) });
    await expect(engine.process(change)).rejects.toThrow(/accessChanged/);
    fail = false;
    expect(await appRoles(org)).toEqual({ u1: ['member'] });
    expect(await engine.access?.getUserRoles(org, 'u1')).toMatchObject({ roles: ['member'] });
    expect(await engine.process(change)).toMatchObject({ status: 'applied' });
    expect(await appRoles(org)).toEqual({ u1: ['admin', 'member'] });
  });

  it("keeps a deleted user's manual roles by default, and leaves no access row after a hard delete", async () => {
    for (const hardDelete of [false, true]) {
      const org = `org_deleted_${hardDelete}`;
      const engine = createEngine({ store, hardDelete, handlers: { accessChanged } });
      await engine.access?.putRules(org, { defaultRoles: ['member'] }, 0);
      await engine.process(event(org, { type: 'user.upserted', user: person(org, 'u1') }));
      await engine.process(event(org, { type: 'user.upserted', user: person(org, 'u2') }));
      await engine.access?.setManualRoles(org, 'u1', ['support']);
      await engine.process(event(org, { type: 'user.deleted', user: { id: 'u1', organizationId: org } }));
      await engine.process(event(org, { type: 'user.deleted', user: { id: 'u2', organizationId: org } }));
      const { rows } = await store.pool.query<{ user_id: string; manual: string[] }>(
        `select user_id, manual from ${store.schema}.user_access where organization_id = $1 order by user_id`,
        [org],
      );
      expect(rows).toEqual(hardDelete ? [] : [{ user_id: 'u1', manual: ['support'] }]);
      // accessChanged told the app what the directory took: the manual role is the app's own.
      expect(await appRoles(org)).toEqual({ u1: ['support'], u2: [] });
    }
  });

  it(`re-evaluates every member of a group renamed into a name rule, beyond ${MAX_RESOURCE_LOCKS} members (the organization locked whole)`, async () => {
    const org = 'org_rename';
    const engine = createEngine({ store, handlers: { accessChanged } });
    await engine.access?.putRules(org, { rules: [{ match: 'groupName', value: 'admins', grant: ['admin'] }] }, 0);
    await engine.process(
      event(org, { type: 'group.upserted', group: { id: 'g1', organizationId: org, displayName: 'Staff' } }),
    );
    const n = MAX_RESOURCE_LOCKS + 44;
    for (let i = 0; i < n; i++) {
      await engine.process(
        event(org, {
          type: 'user.upserted',
          user: person(org, `u${String(i).padStart(4, '0')}`, { groups: [{ id: 'g1' }] }),
        }),
      );
    }
    calls.length = 0;
    await engine.process(
      event(org, { type: 'group.upserted', group: { id: 'g1', organizationId: org, displayName: 'Admins' } }),
    );
    expect(calls).toHaveLength(n);
    expect(Object.values(await appRoles(org)).every((roles) => roles.join() === 'admin')).toBe(true);
    expect(Object.keys(await appRoles(org))).toHaveLength(n);
    calls.length = 0;
    await engine.process(
      event(org, { type: 'group.deleted', group: { id: 'g1', organizationId: org, displayName: 'Admins' } }),
    );
    expect(calls.map((c) => c.revoked.join())).toEqual(Array.from({ length: n }, () => 'admin'));
    expect(Object.values(await appRoles(org)).every((roles) => roles.length === 0)).toBe(true);
  });

  it('grants through the SCIM server over real HTTP, and re-evaluates after a rule change: planned, then applied once', async () => {
    const org = 'org_scim_access';
    const engine = createEngine({ store, handlers: { accessChanged } });
    await engine.access?.putRules(org, { rules: [{ match: 'groupId', value: 'placeholder', grant: ['x'] }] }, 0);
    const token = generateScimToken();
    const server = createScimServer({
      engine,
      authenticator: scimTokenAuthenticator([{ organizationId: org, tokenHash: token.tokenHash }]),
    });
    const http = createServer((request, response) => void handleScimNodeRequest(server, { request, response }));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/scim/v2`;
    // biome-ignore lint/suspicious/noExplicitAny: SCIM JSON.
    const scim = async (method: string, path: string, body?: unknown): Promise<any> => {
      const response = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/scim+json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return text ? JSON.parse(text) : undefined;
    };
    try {
      const users = [];
      for (const name of ['ada', 'bob', 'cy']) users.push(await scim('POST', '/Users', { userName: name }));
      const group = await scim('POST', '/Groups', {
        displayName: 'Ops',
        members: [{ value: users[0].id }, { value: users[1].id }],
      });
      calls.length = 0;
      const saved = await engine.access?.putRules(
        org,
        { rules: [{ match: 'groupId', value: group.id, grant: ['ops'] }] },
        1,
      );
      expect(saved).toEqual({ status: 'saved', revision: 2 });
      const plan = await engine.access?.reevaluate(org, { dryRun: true });
      expect(plan).toMatchObject({ status: 'planned', changed: 2, gaining: 2, losing: 0 });
      expect(calls).toEqual([]);
      expect(await engine.access?.reevaluate(org)).toMatchObject({ status: 'applied', changed: 2 });
      expect(await engine.access?.reevaluate(org)).toMatchObject({ status: 'applied', changed: 0 });
      expect(calls.map((c) => c.user).sort()).toEqual([users[0].id, users[1].id].sort());
      await scim('PATCH', `/Groups/${group.id}`, {
        schemas: [PATCH_OP_SCHEMA],
        Operations: [{ op: 'remove', path: `members[value eq "${users[0].id}"]` }],
      });
      expect(calls.at(-1)).toMatchObject({ user: users[0].id, revoked: ['ops'] });
      expect((await appRoles(org))[users[0].id]).toEqual([]);
    } finally {
      await new Promise<void>((resolve) => http.close(() => resolve()));
    }
  });
});
