/**
 * A webhook's user snapshot or user deletion on PostgreSQL is claimed in its own transaction
 * (`claimsInTransaction`): the claim is the first statement of the transaction's first round trip
 * and commits with the event's writes. What that must keep, on a real database: a duplicate is
 * answered in one round trip with nothing left open on the connection; a second delivery while the
 * first is being applied is refused at once (`in_flight`), not made to wait; a failure leaves no
 * ledger row, so the redelivery applies it; a live claim of the batch path (`claimEvents`) is
 * respected; a group's snapshot and a membership change are claimed in their transactions too,
 * and a group's deletion keeps its claim before its transaction.
 */
import { createEngine, type DirectoryEvent, type IncomingEvent } from '@org/scim-core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PostgresStore, postgresStore } from '../src/index.js';
import { accessEvent, person } from './access-events.js';
import { DATABASE_URL, freshSchema, watchRoundTrips } from './database.js';

let pool: pg.Pool;
let store: PostgresStore;
let roundTrips = 0;
/** The text of each round trip since the last reset of `roundTrips`. */
let sent: string[] = [];
let org = 0;

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: DATABASE_URL, max: 6 });
  watchRoundTrips(pool, (text) => {
    if (roundTrips === 0) sent = [];
    roundTrips += 1;
    sent.push(text);
  });
  store = postgresStore({ pool, schema: freshSchema('claim_tx') });
  await store.migrate();
});
afterAll(async () => {
  await pool.query(`drop schema if exists ${store.schema} cascade`);
  await store.close();
  await pool.end();
});

const nextOrg = () => `org_claim_tx_${++org}`;
const upsert = (organizationId: string, id = 'diruser_1', extra = {}) =>
  accessEvent('ctx', organizationId, {
    type: 'user.upserted',
    environmentId: 'env_1',
    user: person(organizationId, id, extra),
  });

async function ledgerRow(event: IncomingEvent) {
  const { rows } = await pool.query<{ state: string; outcome: string | null }>(
    `select state, outcome from ${store.schema}.ledger where environment_id = $1 and organization_id = $2 and event_id = $3`,
    [event.environmentId ?? '', event.organizationId, event.id],
  );
  return rows[0];
}

/** A handler that waits for `release()` once `entered` resolved. */
function gate() {
  let enter!: () => void;
  let open!: () => void;
  const entered = new Promise<void>((resolve) => {
    enter = resolve;
  });
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return {
    entered,
    release: open,
    wait: async () => {
      enter();
      await opened;
    },
  };
}

describe('a user snapshot claimed in its transaction (PostgreSQL)', () => {
  it('applies in 2 round trips, answers its duplicate in 1, and leaves the connection idle after the refusal', async () => {
    const organizationId = nextOrg();
    const engine = createEngine({ store });
    await engine.process(upsert(organizationId, 'diruser_warm'));
    const event = upsert(organizationId);
    roundTrips = 0;
    expect((await engine.process(event)).status).toBe('applied');
    expect(roundTrips).toBe(2);
    expect(await ledgerRow(event)).toEqual({ state: 'done', outcome: 'applied' });

    roundTrips = 0;
    expect(await engine.process(event)).toMatchObject({ status: 'duplicate', handlers: [] });
    expect(roundTrips).toBe(1);
    // No connection was left inside a transaction by the refused claim: every one answers at once.
    const { rows } = await pool.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity where datname = current_database() and state like 'idle in transaction%'`,
    );
    expect(rows[0]?.n).toBe(0);
    // A stale snapshot is completed as stale, with the claim, in the same transaction.
    const older = { ...upsert(organizationId), occurredAt: '2000-01-01T00:00:00.000000000Z' } as DirectoryEvent;
    expect((await engine.process(older)).status).toBe('stale');
    expect(await ledgerRow(older)).toEqual({ state: 'done', outcome: 'stale' });
  });

  it("writes an applied event's ledger row once, as its completion, and rewrites it only for another outcome", async () => {
    // A trigger counts the ledger's row updates per event (the test's own schema, PL/pgSQL).
    await pool.query(`
      create table ${store.schema}.ledger_updates (event_id text, outcome text);
      create function ${store.schema}.count_ledger_update() returns trigger language plpgsql as $$
        begin insert into ${store.schema}.ledger_updates values (new.event_id, new.outcome); return new; end $$;
      create trigger count_updates before update on ${store.schema}.ledger
        for each row execute function ${store.schema}.count_ledger_update();`);
    const updatesOf = async (event: IncomingEvent) =>
      (
        await pool.query<{ outcome: string }>(
          `select outcome from ${store.schema}.ledger_updates where event_id = $1`,
          [event.id],
        )
      ).rows.map((row) => row.outcome);
    try {
      const organizationId = nextOrg();
      let now = 1_800_000_000_000;
      const engine = createEngine({ store, now: () => now });
      const event = upsert(organizationId);
      expect((await engine.process(event)).status).toBe('applied');
      const { rows } = await pool.query(
        `select state, outcome, completed_at::text, occurred_at, expires_at from ${store.schema}.ledger where event_id = $1`,
        [event.id],
      );
      expect(rows).toEqual([
        {
          state: 'done',
          outcome: 'applied',
          completed_at: String(now),
          occurred_at: event.occurredAt,
          expires_at: null,
        },
      ]);
      expect(await updatesOf(event)).toEqual([]);
      // An older snapshot is completed as stale: its row is written as applied and rewritten once.
      now += 1_000;
      const older = { ...upsert(organizationId), occurredAt: '2000-01-01T00:00:00.000000000Z' } as DirectoryEvent;
      expect((await engine.process(older)).status).toBe('stale');
      expect(await ledgerRow(older)).toEqual({ state: 'done', outcome: 'stale' });
      expect(await updatesOf(older)).toEqual(['stale']);
      // Health reads the organization's last events from those rows.
      const health = await store.readHealth?.({ organizationId, since: 0, runKeys: [] });
      expect(health?.lastApplied).toEqual({ eventId: event.id, at: now - 1_000, occurredAt: event.occurredAt });
      expect(health?.lastReceived).toEqual({ eventId: older.id, at: now, outcome: 'stale' });
    } finally {
      await pool.query(`
        drop trigger count_updates on ${store.schema}.ledger;
        drop function ${store.schema}.count_ledger_update();
        drop table ${store.schema}.ledger_updates;`);
    }
  });

  it('refuses a second delivery at once while the first is applied, then answers it as a duplicate', async () => {
    const organizationId = nextOrg();
    const held = gate();
    let calls = 0;
    const engine = createEngine({
      store,
      handlers: {
        userCreated: async () => {
          calls += 1;
          await held.wait();
        },
      },
    });
    const event = upsert(organizationId);
    const first = engine.process(event);
    await held.entered;
    const started = Date.now();
    const second = await engine.process(event);
    expect(second.status).toBe('in_flight');
    expect(second.retryAfterMs).toBeGreaterThan(0);
    // Refused, not queued behind the first transaction's row.
    expect(Date.now() - started).toBeLessThan(2_000);
    held.release();
    expect((await first).status).toBe('applied');
    expect((await engine.process(event)).status).toBe('duplicate');
    expect(calls).toBe(1);
  });

  it('leaves no ledger row when a handler fails, so the redelivery applies it', async () => {
    const organizationId = nextOrg();
    let fail = true;
    const created: string[] = [];
    const engine = createEngine({
      store,
      handlers: {
        userCreated: ({ user }) => {
          if (fail) throw new Error('the app is down');
          created.push(user.id);
        },
      },
    });
    const event = upsert(organizationId);
    await expect(engine.process(event)).rejects.toMatchObject({ name: 'HandlerError' });
    expect(await ledgerRow(event)).toBeUndefined();
    expect(await store.getUser(organizationId, 'diruser_1')).toBeUndefined();
    fail = false;
    expect((await engine.process(event)).status).toBe('applied');
    expect(created).toEqual(['diruser_1']);
  });

  it("claims a user's deletion in its transaction too: a failure leaves no ledger row and the user, and the redelivery applies it", async () => {
    const organizationId = nextOrg();
    let fail = true;
    const deactivated: string[] = [];
    const engine = createEngine({
      store,
      handlers: {
        userDeactivated: ({ user }) => {
          if (fail) throw new Error('the app is down');
          deactivated.push(user.id);
        },
      },
    });
    await engine.process(upsert(organizationId));
    const deletion = accessEvent('ctx', organizationId, {
      type: 'user.deleted',
      environmentId: 'env_1',
      user: { id: 'diruser_1', organizationId },
    });
    roundTrips = 0;
    await expect(engine.process(deletion)).rejects.toMatchObject({ name: 'HandlerError' });
    // Its claim, the transaction's first statement, was undone with it: nothing to release.
    expect(roundTrips).toBe(3);
    expect(await ledgerRow(deletion)).toBeUndefined();
    expect(await store.getUser(organizationId, 'diruser_1')).toBeDefined();
    fail = false;
    roundTrips = 0;
    expect((await engine.process(deletion)).status).toBe('applied');
    expect(roundTrips).toBe(2);
    expect(deactivated).toEqual(['diruser_1']);
    expect(await ledgerRow(deletion)).toEqual({ state: 'done', outcome: 'applied' });
    expect(await store.getUser(organizationId, 'diruser_1')).toBeUndefined();
  });

  it('refuses an occurredAt it cannot read as invalid_event before the claim reaches the database', async () => {
    const organizationId = nextOrg();
    const engine = createEngine({ store });
    await engine.process(upsert(organizationId));
    const group = { id: 'g1', organizationId, displayName: 'G1' };
    const kinds = [
      { type: 'user.upserted', user: person(organizationId, 'diruser_2') },
      { type: 'user.deleted', user: { id: 'diruser_1', organizationId } },
      { type: 'group.upserted', group },
      { type: 'group.members_changed', group, added: ['diruser_1'], removed: [] },
    ];
    for (const change of kinds) {
      const event = accessEvent('ctx', organizationId, { environmentId: 'env_1', ...change });
      const bad = { ...event, occurredAt: `${event.occurredAt}\u0000` } as IncomingEvent;
      roundTrips = 0;
      await expect(engine.process(bad)).rejects.toMatchObject({ name: 'EngineError', code: 'invalid_event' });
      // One round trip: the failure recorded for `health()`, no claim and no transaction.
      expect(roundTrips).toBe(1);
      expect(sent[0]).toContain('.failures');
      expect(await ledgerRow(bad)).toBeUndefined();
    }
  });

  it('respects a live claim of the batch path and takes over one whose lease ran out', async () => {
    const organizationId = nextOrg();
    const engine = createEngine({ store, now: () => 1_000_000 });
    const event = upsert(organizationId);
    const key = { environmentId: 'env_1', organizationId, eventId: event.id };
    // Claimed elsewhere with a lease to 1,060,000.
    const claimed = await store.claimEvents?.([{ ...key, now: 1_000_000, leaseMs: 60_000 }]);
    expect(claimed).toEqual([{ status: 'claimed' }]);
    expect(await engine.process(event)).toMatchObject({ status: 'in_flight', retryAfterMs: 60_000 });
    expect(await ledgerRow(event)).toEqual({ state: 'claimed', outcome: null });
    // That claimer died: once its lease ran out, the delivery takes the event over.
    const later = createEngine({ store, now: () => 1_060_000 });
    expect((await later.process(event)).status).toBe('applied');
    expect(await ledgerRow(event)).toEqual({ state: 'done', outcome: 'applied' });
  });

  it('claims alone before the transaction where the ledger holds rows from before it was scoped, and releases that claim on a failure', async () => {
    const legacyStore = postgresStore({ pool, schema: freshSchema('claim_tx_legacy') });
    await legacyStore.migrate();
    try {
      // A row written before migration 3: it answers for its id in every scope.
      await pool.query(
        `insert into ${legacyStore.schema}.ledger (environment_id, organization_id, event_id, state, outcome, completed_at, unscoped)
         values ('', '', 'evt_legacy', 'done', 'applied', 1, true)`,
      );
      const organizationId = nextOrg();
      let fail = true;
      const engine = createEngine({
        store: legacyStore,
        handlers: {
          userCreated: () => {
            if (fail) throw new Error('the app is down');
          },
        },
      });
      const legacy = { ...upsert(organizationId), id: 'evt_legacy' } as DirectoryEvent;
      expect((await engine.process(legacy)).status).toBe('duplicate');
      const event = upsert(organizationId);
      await expect(engine.process(event)).rejects.toMatchObject({ name: 'HandlerError' });
      // Its claim, taken alone, was released: the redelivery applies it at once.
      const { rows } = await pool.query(`select state from ${legacyStore.schema}.ledger where event_id = $1`, [
        event.id,
      ]);
      expect(rows).toEqual([]);
      fail = false;
      expect((await engine.process(event)).status).toBe('applied');
    } finally {
      await pool.query(`drop schema if exists ${legacyStore.schema} cascade`);
    }
  });

  it("claims a group's snapshot and a membership change in their transactions, and keeps a group deletion's claim before it", async () => {
    const organizationId = nextOrg();
    const engine = createEngine({ store });
    const event = (change: Record<string, unknown>) =>
      accessEvent('ctx', organizationId, { environmentId: 'env_1', ...change });
    const group = { id: 'g1', organizationId, displayName: 'G1' };
    await engine.process(upsert(organizationId, 'diruser_warm'));
    const trips = async (e: IncomingEvent) => {
      roundTrips = 0;
      const { status } = await engine.process(e);
      return [status, roundTrips];
    };
    const snapshot = event({ type: 'group.upserted', group });
    expect(await trips(snapshot)).toEqual(['applied', 2]);
    expect(await trips(snapshot)).toEqual(['duplicate', 1]);
    expect(await ledgerRow(snapshot)).toEqual({ state: 'done', outcome: 'applied' });
    const joins = event({ type: 'group.members_changed', group, added: ['diruser_warm'], removed: [] });
    expect(await trips(joins)).toEqual(['applied', 2]);
    expect(await trips(joins)).toEqual(['duplicate', 1]);
    expect(await store.listGroupMemberIds(organizationId, 'g1')).toEqual(['diruser_warm']);
    // A membership change naming a user the mirror does not hold fails with nothing written.
    const unknown = event({ type: 'group.members_changed', group, added: ['diruser_nobody'], removed: [] });
    await expect(engine.process(unknown)).rejects.toMatchObject({ code: 'unknown_members' });
    expect(await ledgerRow(unknown)).toBeUndefined();
    // The deletion locks the group's members in its transaction: its claim goes first, alone.
    const deletion = event({ type: 'group.deleted', group });
    expect(await trips(deletion)).toEqual(['applied', 3]);
    expect(await trips(deletion)).toEqual(['duplicate', 1]);
  });
});
