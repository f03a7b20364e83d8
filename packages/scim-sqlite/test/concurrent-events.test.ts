/**
 * One process, many events at once, one SQLite file: 2,000 Scalekit events, each delivered three
 * times, shuffled, 32 in flight through one engine, every `in_flight` answer retried as a sender
 * would. Each event is applied (or found stale) exactly once, its handlers' writes through
 * `transactionClient(tx)` commit with it and never twice, and the mirror ends as an ordered replay
 * into the memory store leaves it.
 */

import {
  createEngine,
  type DirectoryGroup,
  type DirectoryUser,
  memoryStore,
  normalizeScalekitEvent,
  type ProcessResult,
  type ProvisioningHandlers,
  type ProvisioningStore,
  parseScalekitEvent,
  type ResourceRef,
  type ScalekitDirectoryEvent,
} from '@org/scim-core';
import { generateDirectoryStream, seededRandom, shuffle } from '@org/scim-testing';
import { afterAll, expect, it } from 'vitest';
import { sqliteStore, transactionClient } from '../src/index.js';
import { freshDatabase } from './database.js';

const EVENTS = 2_000;
const COPIES = 3;
const IN_FLIGHT = 32;

const database = freshDatabase('concurrent');
afterAll(() => database.remove());

function normalize(event: ScalekitDirectoryEvent) {
  const parsed = parseScalekitEvent(event);
  if (!parsed.success) throw new Error(`invalid event ${event.id}`);
  return normalizeScalekitEvent(parsed.value);
}

const HANDLERS = [
  'userCreated',
  'userUpdated',
  'userReactivated',
  'userDeactivated',
  'groupCreated',
  'groupUpdated',
  'groupDeleted',
  'membershipAdded',
  'membershipRemoved',
] as const;

/** Handlers that each record `(event, handler, resource)`, uniquely, in the app's table through the transaction. */
function recordingHandlers(): ProvisioningHandlers {
  const handlers: Record<
    string,
    (arg: { event: { id: string }; tx: never; user?: { id: string }; group?: { id: string } }) => void
  > = {};
  for (const name of HANDLERS) {
    handlers[name] = ({ event, tx, user, group }) => {
      const resource = user && group ? `${user.id}|${group.id}` : ((user ?? group) as { id: string }).id;
      transactionClient(tx)
        .prepare('insert into effects (event_id, handler, resource) values (?, ?, ?)')
        .run(event.id, name, resource);
    };
  }
  return handlers as unknown as ProvisioningHandlers;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}

/** Users, groups and versions of the stream's resources, read through the store interface. */
async function state(store: ProvisioningStore, organizationId: string, userIds: string[], groupIds: string[]) {
  const users: DirectoryUser[] = await store.listUsers(organizationId, { limit: 100_000 });
  const groups: DirectoryGroup[] = await store.listGroups(organizationId, { limit: 100_000 });
  const refs: ResourceRef[] = [
    ...userIds.map((id) => ({ organizationId, kind: 'user' as const, id })),
    ...groupIds.map((id) => ({ organizationId, kind: 'group' as const, id })),
  ];
  const versions = (await store.getVersions(refs)).map(
    (v) => v && { at: v.at, eventId: v.eventId, deleted: v.deleted },
  );
  return { users, groups, versions };
}

it.each([
  ['one transaction each', false],
  ['coalesced (group commit)', true],
])(
  `${EVENTS} events × ${COPIES}, shuffled, ${IN_FLIGHT} in flight on one SQLite file, %s: each applied once, final state = ordered replay`,
  async (_, coalesce) => {
    const seed = Number(process.env.TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const context = `seed ${seed} (TEST_SEED=${seed} replays it)`;
    const stream = generateDirectoryStream({ count: EVENTS, seed });
    const deliveries = shuffle(
      stream.events.flatMap((event) => Array.from({ length: COPIES }, () => event)),
      seededRandom(seed ^ 0x5eed),
    );
    const store = sqliteStore({ filename: coalesce ? `${database.filename}.coalesce` : database.filename });
    await store.migrate();
    store.database.exec(
      'create table effects (event_id text not null, handler text not null, resource text not null, unique (event_id, handler, resource))',
    );
    const engine = createEngine({ store, handlers: recordingHandlers(), coalesce });

    const started = performance.now();
    const results = await mapLimit(deliveries, IN_FLIGHT, async (event) => {
      const normalized = normalize(event);
      for (;;) {
        const result: ProcessResult = await engine.process(normalized);
        if (result.status !== 'in_flight') return result;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    });
    const seconds = (performance.now() - started) / 1000;

    const byEvent = new Map<string, ProcessResult[]>();
    for (const result of results) byEvent.set(result.eventId, [...(byEvent.get(result.eventId) ?? []), result]);
    const effects = store.database.prepare('select event_id, handler from effects').all() as {
      event_id: string;
      handler: string;
    }[];
    const recorded = new Map<string, string[]>();
    for (const e of effects) recorded.set(e.event_id, [...(recorded.get(e.event_id) ?? []), e.handler]);
    for (const [id, answers] of byEvent) {
      const decisive = answers.filter((a) => a.status === 'applied' || a.status === 'stale');
      expect(decisive.length, `${context}: ${id} answered ${answers.map((a) => a.status).join(', ')}`).toBe(1);
      const [decided] = decisive as [ProcessResult];
      const ran = decided.status === 'applied' ? [...decided.handlers].sort() : [];
      expect((recorded.get(id) ?? []).sort(), `${context}: effects of ${id}`).toEqual(ran);
    }
    expect(byEvent.size).toBe(EVENTS);
    const ledger = store.database.prepare('select state, count(*) as n from scim_ledger group by state').all();
    expect(ledger).toEqual([{ state: 'done', n: BigInt(EVENTS) }]);

    const replay = memoryStore();
    const ordered = createEngine({ store: replay });
    for (const event of stream.events) expect((await ordered.process(normalize(event))).status).toBe('applied');
    const { organizationId, userIds, groupIds } = stream;
    expect(await state(store, organizationId, userIds, groupIds), context).toEqual(
      await state(replay, organizationId, userIds, groupIds),
    );
    console.log(
      `sqlite${coalesce ? ', coalesced' : ''}: ${deliveries.length} deliveries in ${seconds.toFixed(1)} s (${Math.round(deliveries.length / seconds)}/s), ${context}`,
    );
    await store.close();
  },
  120_000,
);
