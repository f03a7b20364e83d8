/**
 * Reconciliation into PostgreSQL applies a page of users per transaction (the store's batch
 * operations), with the real `@scalekit-sdk/node` client against the fake Scalekit, and ends where
 * a store without them (one event per transaction) ends: the same mirror, the same handler calls.
 */
import { randomUUID } from 'node:crypto';
import {
  createEngine,
  createReconciler,
  memoryStore,
  type ProvisioningStore,
  type ReconcileReport,
  scalekitDirectorySource,
} from '@org/scim-core';
import { postgresStore } from '@org/scim-postgres';
import { type FakeScalekit, startFakeScalekit } from '@org/scim-testing/fake-scalekit';
import { ScalekitClient } from '@scalekit-sdk/node';
import pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import { recordingHandlers } from './harness.js';

const POSTGRES_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const BATCH_METHODS = new Set<string | symbol>(['claimEvents', 'advanceVersions', 'putUsers', 'completeEvents']);

let fake: FakeScalekit | undefined;
let pool: pg.Pool | undefined;
let schema: string | undefined;
afterEach(async () => {
  await fake?.close();
  if (pool && schema) await pool.query(`drop schema if exists ${schema} cascade`);
  await pool?.end();
  fake = undefined;
  pool = undefined;
});

/** `store`, counting its transactions, and, with `oneAtATime`, without its batch operations. */
function observed(store: ProvisioningStore, oneAtATime = false) {
  const counts = { transactions: 0 };
  const view = new Proxy(store, {
    get(target, key, receiver) {
      if (oneAtATime && BATCH_METHODS.has(key)) return undefined;
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      if (key === 'transaction') {
        return (...args: Parameters<ProvisioningStore['transaction']>) => {
          counts.transactions += 1;
          return target.transaction(...args);
        };
      }
      return value.bind(target);
    },
  });
  return { store: view, counts };
}

const comparable = (report: ReconcileReport) => ({
  status: report.status,
  users: report.users,
  groups: report.groups,
  events: report.events,
  handlerCalls: report.handlerCalls,
});

async function mirrorOf(store: ProvisioningStore, organizationId: string) {
  const groups = await store.listGroups(organizationId, { limit: 1000 });
  return {
    users: await store.listUsers(organizationId, { limit: 1000 }),
    groups,
    members: await Promise.all(groups.map((g) => store.listGroupMemberIds(organizationId, g.id))),
  };
}

it('applies each page of users in one PostgreSQL transaction, ending where one event per transaction ends', async () => {
  fake = await startFakeScalekit();
  const organizationId = fake.addOrganization({ displayName: 'Acme' }).id;
  fake.addDirectory(organizationId);
  const groupIds = ['dirgroup_eng', 'dirgroup_ops', 'dirgroup_sales'];
  for (const id of groupIds) fake.upsertGroup(organizationId, { id, displayName: id.slice(9) });
  const userIds = Array.from({ length: 230 }, (_, i) => `diruser_${String(i).padStart(4, '0')}`);
  for (const [i, id] of userIds.entries()) {
    fake.upsertUser(organizationId, {
      id,
      email: `u${i}@acme.test`,
      givenName: 'User',
      familyName: `U${i}`,
      roles: ['member'],
      groups: groupIds.filter((_, g) => (i + g) % 2 === 0),
    });
  }
  pool = new pg.Pool({ connectionString: POSTGRES_URL, max: 4 });
  schema = `scim_batches_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const client = new ScalekitClient(fake.url, fake.clientId, fake.clientSecret);
  const runs = [
    { ...observed(postgresStore({ pool, schema })), ...recordingHandlers() },
    { ...observed(memoryStore(), true), ...recordingHandlers() },
  ].map((run) => {
    const engine = createEngine({ store: run.store, handlers: run.handlers });
    const reconciler = createReconciler({ engine, source: scalekitDirectorySource(client), pageSize: 50 });
    return { ...run, reconciler };
  });
  const [batched, reference] = runs as [(typeof runs)[number], (typeof runs)[number]];
  const sorted = (calls: { name: string; id: string }[]) => calls.map((c) => `${c.name} ${c.id}`).sort();

  const first = await Promise.all(runs.map((run) => run.reconciler.reconcile(organizationId)));
  expect(first[0]?.users.created).toBe(230);
  expect(comparable(first[0] as ReconcileReport)).toEqual(comparable(first[1] as ReconcileReport));
  // A page of three groups in one transaction, then 230 users in pages of 50: five, not 230.
  expect(batched.counts.transactions).toBe(1 + 5);
  expect(reference.counts.transactions).toBe(3 + 230);
  expect(sorted(batched.calls)).toEqual(sorted(reference.calls));
  // Within a page, the handlers run in the listing's order.
  const created = batched.calls.filter((c) => c.name === 'userCreated').map((c) => c.id);
  expect(created).toEqual(userIds);
  expect(await mirrorOf(batched.store, organizationId)).toEqual(await mirrorOf(reference.store, organizationId));

  // Remote changes: some deactivated, some renamed and moved, some removed.
  for (const [i, id] of userIds.entries()) {
    if (i % 7 === 0) fake.upsertUser(organizationId, { id, email: `u${i}@acme.test`, active: false });
    else if (i % 11 === 0)
      fake.upsertUser(organizationId, { id, email: `moved${i}@acme.test`, groups: ['dirgroup_ops'] });
    else if (i % 13 === 0) fake.removeUser(organizationId, id);
  }
  for (const run of runs) {
    run.calls.length = 0;
    run.counts.transactions = 0;
  }
  const second = await Promise.all(runs.map((run) => run.reconciler.reconcile(organizationId, { force: true })));
  expect(second[0]?.users.deactivated).toBeGreaterThan(0);
  expect(comparable(second[0] as ReconcileReport)).toEqual(comparable(second[1] as ReconcileReport));
  expect(batched.counts.transactions).toBeLessThan(reference.counts.transactions);
  expect(sorted(batched.calls)).toEqual(sorted(reference.calls));
  expect(await mirrorOf(batched.store, organizationId)).toEqual(await mirrorOf(reference.store, organizationId));
});
