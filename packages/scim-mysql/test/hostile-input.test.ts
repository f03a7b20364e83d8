/** Ids the columns cannot hold are refused, never cut; ids that differ by bytes MySQL collations would fold stay apart. */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  createEngine,
  createScalekitWebhookReceiver,
  normalizeScalekitEvent,
  parseScalekitEvent,
  receiveNodeRequest,
  type ScalekitDirectoryEvent,
  writeNodeResponse,
} from '@org/scim-core';
import { SqlStoreError } from '@org/scim-sql';
import { createEventFactory, deliverWebhook, generateWebhookSecret } from '@org/scim-testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { MAX_KEY_BYTES, type MysqlStore, mysqlInbox, mysqlStore } from '../src/index.js';
import { DATABASE_URL, dropTables, freshPrefix } from './database.js';

let store: MysqlStore;
beforeAll(async () => {
  store = mysqlStore({ connectionString: DATABASE_URL, tablePrefix: freshPrefix('hostile') });
  await store.migrate();
});
afterAll(async () => {
  await dropTables(store.pool, store.tablePrefix);
  await store.close();
});

const user = (id: string) => ({
  id,
  organizationId: 'org_1',
  active: true,
  groups: [],
  roles: [],
  attributes: {},
  customAttributes: {},
});

it(`refuses an id of more than ${MAX_KEY_BYTES} bytes with a SqlStoreError, and stores one of exactly that many`, async () => {
  // 257 characters, 513 bytes: the limit is in bytes of UTF-8, as the VARBINARY columns count.
  const tooLong = `${'é'.repeat(MAX_KEY_BYTES / 2)}x`;
  await expect(store.putUser(user(tooLong))).rejects.toThrow(SqlStoreError);
  await expect(
    store.claimEvent({
      environmentId: '',
      organizationId: 'org_1',
      eventId: 'e'.repeat(MAX_KEY_BYTES + 1),
      now: 1,
      leaseMs: 1,
    }),
  ).rejects.toMatchObject({ code: 'id_too_long' });
  const exact = 'x'.repeat(MAX_KEY_BYTES);
  await store.putUser(user(exact));
  expect((await store.getUser('org_1', exact))?.id).toBe(exact);
  expect(await store.getUser('org_1', exact.slice(0, -1))).toBeUndefined();
});

it('keeps ids apart that differ by case, trailing spaces, accents or NUL', async () => {
  const ids = ['ada', 'Ada', 'ada ', 'adá', 'ada\u0000', 'a\u0301da'];
  for (const id of ids) await store.putUser({ ...user(id), attributes: { id } });
  for (const id of ids) expect((await store.getUser('org_1', id))?.attributes.id).toBe(id);
  const listed = (await store.listUsers('org_1', { limit: 100 })).map((u) => u.id).filter((id) => ids.includes(id));
  expect(listed).toEqual([...ids].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
});

/**
 * An id of 256 three-byte characters passes the event schema (256 characters) but is 768 bytes:
 * more than the key columns hold. Over real HTTP, with and without an inbox, the route answers 400
 * (poison: a 5xx would have Scalekit retry it for nothing), writes nothing, and no handler runs.
 */
it('answers 400, not 5xx, to a signed event whose id the columns cannot hold, with or without an inbox', async () => {
  const secret = generateWebhookSecret();
  const events = createEventFactory({ organizationId: 'org_wide' });
  const calls: string[] = [];
  const failures: number[] = [];
  const engine = createEngine({ store, handlers: { userCreated: ({ user }) => void calls.push(user.id) } });
  const inbox = mysqlInbox({ store });
  const direct = createScalekitWebhookReceiver({ engine, secret, onError: (f) => void failures.push(f.status) });
  const queued = createScalekitWebhookReceiver({ engine, secret, inbox, onError: (f) => void failures.push(f.status) });
  const server = createServer((request, response) => {
    const receiver = request.url === '/inbox' ? queued : direct;
    receiveNodeRequest(receiver, { request }).then((answer) => writeNodeResponse(response, answer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const wide = '€'.repeat(256);
    const wideOrg = createEventFactory({ organizationId: wide });
    for (const [path, event] of [
      // A user id the mirror's key columns cannot hold, applied before the answer.
      ['/direct', events.userCreated({ id: wide, email: 'wide@example.com' })],
      // An organization id the ledger's (and the inbox's) key columns cannot hold.
      ['/direct', wideOrg.userCreated({ id: 'diruser_ok', email: 'ok@example.com' })],
      ['/inbox', wideOrg.userCreated({ id: 'diruser_ok', email: 'ok@example.com' })],
    ] as const) {
      const answer = await deliverWebhook(`${base}${path}`, event, { secret });
      expect(answer.status, `${path} ${JSON.stringify(answer.body)}`).toBe(400);
      expect(answer.body).toMatchObject({ error: { code: 'invalid_event' } });
    }
    expect(calls).toEqual([]);
    expect(await store.getUser('org_wide', wide)).toBeUndefined();
    expect(await inbox.stats()).toMatchObject({ depth: 0, deadLetters: 0 });
    expect(failures.filter((status) => status >= 500)).toEqual([]);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

/**
 * A transaction reads its locked users at once and matches the rows back to the ids it asked for:
 * ids MySQL collations would fold, a NUL, `__proto__`, and a lone surrogate (which a driver sends
 * as U+FFFD) each find their own row, so the second event of each is an update of the first.
 */
it('hands each user its own previous state in a transaction, whatever bytes its id holds', async () => {
  const ids = ['ada', 'Ada', 'ada ', 'adá', 'ada\u0000', 'a\u0301da', '__proto__', 'x\uD800'];
  const events = createEventFactory({ organizationId: 'org_tx_ids' });
  const seen: string[] = [];
  const engine = createEngine({
    store,
    handlers: {
      userCreated: ({ user }) => void seen.push(`created ${JSON.stringify(user.id)}`),
      userUpdated: ({ user, previous }) =>
        void seen.push(`updated ${JSON.stringify(user.id)} from ${JSON.stringify(previous.email)}`),
    },
  });
  const process = async (event: ScalekitDirectoryEvent) => {
    const parsed = parseScalekitEvent(event);
    if (!parsed.success) throw new Error(JSON.stringify(parsed.issues));
    return (await engine.process(normalizeScalekitEvent(parsed.value))).status;
  };
  for (const id of ids)
    expect(await process(events.userCreated({ id, email: `${ids.indexOf(id)}@a.example` }))).toBe('applied');
  for (const id of ids)
    expect(await process(events.userUpdated({ id, email: `${ids.indexOf(id)}@b.example` }))).toBe('applied');
  expect(seen).toEqual([
    ...ids.map((id) => `created ${JSON.stringify(id)}`),
    ...ids.map((id) => `updated ${JSON.stringify(id)} from ${JSON.stringify(`${ids.indexOf(id)}@a.example`)}`),
  ]);
});
