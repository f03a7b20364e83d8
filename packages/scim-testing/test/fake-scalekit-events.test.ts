/**
 * The fake Scalekit's Events API, driven by the real `@scalekit-sdk/node` client
 * (`client.events.listEventsPaginated`): the event log behind it, newest-first cursor paging,
 * every filter, webhooks lost while the log keeps them, and faults.
 */
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { timestampDate, timestampFromDate } from '@bufbuild/protobuf/wkt';
import { parseRfc3339Nanos, type ScalekitDirectoryEvent } from '@org/scim-core';
import {
  ScalekitBadRequestException,
  type ScalekitClient,
  ScalekitInternalServerException,
  type ScalekitServerException,
  ScalekitTooManyRequestsException,
} from '@scalekit-sdk/node';
import {
  type EventFilterSchema,
  ObjectType,
  type ScalekitEvent,
  Source,
} from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/events/events_pb.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runNode } from '../../../scripts/readme-snippets.js';
import { type FakeScalekit, type FakeScalekitOptions, startFakeScalekit } from '../src/fake-scalekit.js';
import { rejection, sdkOf } from './sdk.js';

type Filter = MessageInitShape<typeof EventFilterSchema>;

const START = Date.parse('2026-03-01T12:00:00.000Z');
const MINUTE = 60_000;
const USER_CREATED = 'organization.directory.user_created';
const USER_UPDATED = 'organization.directory.user_updated';
const GROUP_CREATED = 'organization.directory.group_created';

let fake: FakeScalekit;
let clock: number;
let org: string;
let dir: string;
const extraFakes: FakeScalekit[] = [];

/** A client that already holds a token, so call counts show only what a test provokes. */
async function warmClient(): Promise<ScalekitClient> {
  const client = sdkOf(fake);
  await client.events.listEventsPaginated(1);
  fake.resetStats();
  return client;
}

/** `count` new users, one per second of the fake's clock: one `user_created` each. */
function createUsers(count: number, organizationId = org, prefix = 'diruser_'): string[] {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    clock += 1000;
    const id = `${prefix}${String(ids.length + 1).padStart(4, '0')}`;
    fake.upsertUser(organizationId, { id, email: `${id}@example.com` });
    ids.push(id);
  }
  return ids;
}

/** Every page of a listing, following nextPageToken from the first page. */
async function listAll(client: ScalekitClient, pageSize?: number, filter?: Filter) {
  const pages: ScalekitEvent[][] = [];
  let pageToken = '';
  do {
    const page = await client.events.listEventsPaginated(pageSize, pageToken, filter);
    pages.push(page.events);
    pageToken = page.nextPageToken;
  } while (pageToken !== '');
  return { ids: pages.flat().map((e) => e.id), sizes: pages.map((p) => p.length), events: pages.flat() };
}

/** The log's event ids, newest first: what a full listing must return. */
function loggedIdsNewestFirst(keep: (event: ScalekitDirectoryEvent) => boolean = () => true) {
  return fake.events
    .list()
    .filter(keep)
    .map((e) => e.id)
    .reverse();
}

const at = (ms: number) => timestampFromDate(new Date(ms));

/** Replaces the fake with one started with `options`, with an organization and a directory. */
async function restart(options: FakeScalekitOptions): Promise<void> {
  await fake.close();
  fake = await startFakeScalekit({ now: () => clock, ...options });
  org = fake.addOrganization().id;
  dir = fake.addDirectory(org).id;
}

beforeEach(async () => {
  clock = START;
  fake = await startFakeScalekit({ now: () => clock, tokenTtlSeconds: 24 * 3600 });
  org = fake.addOrganization({ displayName: 'Acme' }).id;
  dir = fake.addDirectory(org).id;
});

afterEach(async () => {
  await fake.close();
  await Promise.all(extraFakes.splice(0).map((f) => f.close()));
});

describe('the event log', () => {
  it('holds every event the fake emits, oldest first, equal to what the webhook queue got', () => {
    createUsers(2);
    fake.upsertGroup(org, { id: 'dirgroup_a', displayName: 'A' });
    fake.setUserGroups(org, 'diruser_0001', ['dirgroup_a']);
    fake.removeGroup(org, 'dirgroup_a');
    fake.removeUser(org, 'diruser_0002');
    expect(fake.events.list()).toEqual(fake.webhooks.pending());
    expect(fake.events.list().map((e) => e.type.replace('organization.directory.', ''))).toEqual([
      'user_created',
      'user_created',
      'group_created',
      'user_updated',
      'group_deleted',
      'user_updated',
      'user_deleted',
    ]);
    // Its own copies: editing a queued webhook event does not rewrite the log.
    const queued = fake.webhooks.pending()[0]!;
    queued.data.id = 'diruser_edited';
    expect(fake.events.list()[0]?.data.id).toBe('diruser_0001');
  });

  it('setup (addOrganization, addDirectory, seed) logs nothing, as it sends no webhooks', () => {
    fake.seed(org, { users: 50, groups: 2 });
    expect(fake.events.list()).toEqual([]);
    expect(fake.events.capacity).toBe(100_000);
  });

  it('keeps only the newest eventLogCapacity events; a cursor into forgotten ones finds nothing older', async () => {
    await restart({ eventLogCapacity: 5 });
    const client = sdkOf(fake);
    const first = createUsers(5);
    const page = await client.events.listEventsPaginated(2);
    expect(page.events.map((e) => e.data?.id)).toEqual([first[4], first[3]]);
    const later = createUsers(3, org, 'diruser_late_');
    expect(fake.events.list().map((e) => e.data.id)).toEqual([...first.slice(3), ...later]);
    expect((await listAll(client, 100)).ids).toEqual(loggedIdsNewestFirst());
    // Positions 1 to 3 were forgotten: the page after position 4 is empty, and the listing ends.
    const next = await client.events.listEventsPaginated(2, page.nextPageToken);
    expect(next.events).toEqual([]);
    expect(next.nextPageToken).toBe('');
    // 17 events in all, past twice the capacity: positions and time ranges still line up.
    const more = createUsers(9, org, 'diruser_more_');
    expect(fake.events.list().map((e) => e.data.id)).toEqual(more.slice(4));
    const since = Date.parse(fake.events.list()[2]!.occurred_at);
    const recent = await listAll(client, 2, { startTime: at(since) });
    expect(recent.ids).toEqual(loggedIdsNewestFirst().slice(0, 3));
    expect((await listAll(client, 2, { startTime: at(START) })).ids).toEqual(loggedIdsNewestFirst());
  });

  it('refuses a capacity that is not a positive integer', async () => {
    for (const eventLogCapacity of [0, -1, 1.5]) {
      await expect(startFakeScalekit({ eventLogCapacity })).rejects.toMatchObject({ code: 'invalid_input' });
    }
  });
});

describe('ListEventsPaginated order and paging', () => {
  it('lists every event newest first, occurred_at strictly decreasing, with no total', async () => {
    createUsers(3);
    fake.upsertGroup(org, { id: 'dirgroup_a', displayName: 'A' });
    fake.setUserGroups(org, 'diruser_0001', ['dirgroup_a']);
    // Several events within one millisecond still get distinct, ordered stamps.
    fake.removeGroup(org, 'dirgroup_a');
    const client = sdkOf(fake);
    const page = await client.events.listEventsPaginated(100);
    expect(page.events.map((e) => e.id)).toEqual(loggedIdsNewestFirst());
    const nanos = page.events.map((e) => e.occurredAt!.seconds * 1_000_000_000n + BigInt(e.occurredAt!.nanos));
    for (let i = 1; i < nanos.length; i++) expect(nanos[i]! < nanos[i - 1]!).toBe(true);
    expect(timestampDate(page.events.at(-1)!.occurredAt!).getTime()).toBe(START + 1000);
    expect(page.nextPageToken).toBe('');
    expect(page.prevPageToken).toBe('');
    expect('totalSize' in page).toBe(false);
  });

  it('an empty log answers no events and two empty tokens', async () => {
    const page = await sdkOf(fake).events.listEventsPaginated(10);
    expect(page.events).toEqual([]);
    expect([page.nextPageToken, page.prevPageToken]).toEqual(['', '']);
  });

  it('pageSize 1 pages one event at a time: every event exactly once, the last token empty', async () => {
    createUsers(7);
    const { ids, sizes } = await listAll(sdkOf(fake), 1);
    expect(sizes).toEqual([1, 1, 1, 1, 1, 1, 1]);
    expect(ids).toEqual(loggedIdsNewestFirst());
  });

  it('pageSize omitted or 0 means 10', async () => {
    createUsers(25);
    const client = sdkOf(fake);
    expect((await client.events.listEventsPaginated()).events).toHaveLength(10);
    expect((await client.events.listEventsPaginated(0)).events).toHaveLength(10);
    const { ids, sizes } = await listAll(client);
    expect(sizes).toEqual([10, 10, 5]);
    expect(ids).toEqual(loggedIdsNewestFirst());
  });

  it('pageSize 100 answers 100; anything larger is clamped to 100', async () => {
    createUsers(250);
    const client = sdkOf(fake);
    const { ids, sizes } = await listAll(client, 100);
    expect(sizes).toEqual([100, 100, 50]);
    expect(ids).toEqual(loggedIdsNewestFirst());
    for (const pageSize of [101, 1000, 4_294_967_295]) {
      expect((await client.events.listEventsPaginated(pageSize)).events).toHaveLength(100);
    }
    expect((await listAll(client, 101)).sizes).toEqual([100, 100, 50]);
  });

  it('maxPageSize clamps the events listing too', async () => {
    await restart({ maxPageSize: 30 });
    createUsers(40);
    expect((await sdkOf(fake).events.listEventsPaginated(100)).events).toHaveLength(30);
  });

  it('prevPageToken leads back to the newer page; the first page has none', async () => {
    createUsers(35);
    const client = sdkOf(fake);
    const page1 = await client.events.listEventsPaginated(10);
    expect(page1.prevPageToken).toBe('');
    const page2 = await client.events.listEventsPaginated(10, page1.nextPageToken);
    const page3 = await client.events.listEventsPaginated(10, page2.nextPageToken);
    const back2 = await client.events.listEventsPaginated(10, page3.prevPageToken);
    expect(back2.events.map((e) => e.id)).toEqual(page2.events.map((e) => e.id));
    const back1 = await client.events.listEventsPaginated(10, back2.prevPageToken);
    expect(back1.events.map((e) => e.id)).toEqual(page1.events.map((e) => e.id));
    expect(back1.prevPageToken).toBe('');
    expect(back1.nextPageToken).not.toBe('');
  });

  it('a token stays valid while events are appended: no page repeats or skips an event', async () => {
    const before = createUsers(30);
    const client = sdkOf(fake);
    const listedBefore = loggedIdsNewestFirst();
    const page1 = await client.events.listEventsPaginated(10);
    const appended = createUsers(15, org, 'diruser_new_');
    const page2 = await client.events.listEventsPaginated(10, page1.nextPageToken);
    appended.push(...createUsers(3, org, 'diruser_newer_'));
    const page3 = await client.events.listEventsPaginated(10, page2.nextPageToken);
    expect(page3.nextPageToken).toBe('');
    expect([...page1.events, ...page2.events, ...page3.events].map((e) => e.id)).toEqual(listedBefore);
    expect([...page1.events, ...page2.events, ...page3.events].map((e) => e.data?.id)).toEqual(before.reverse());
    // Back from page 2 is still page 1, not the 18 events that arrived since.
    const back = await client.events.listEventsPaginated(10, page2.prevPageToken);
    expect(back.events.map((e) => e.id)).toEqual(page1.events.map((e) => e.id));
    // …and page 1 now has newer events before it: the 10 just above it, then the other 8.
    const newer = await client.events.listEventsPaginated(10, back.prevPageToken);
    expect(newer.events.map((e) => e.data?.id)).toEqual(appended.slice(0, 10).reverse());
    const newest = await client.events.listEventsPaginated(10, newer.prevPageToken);
    expect(newest.events.map((e) => e.data?.id)).toEqual(appended.slice(10).reverse());
    expect(newest.prevPageToken).toBe('');
    // A fresh listing starts from the newest.
    const fresh = await client.events.listEventsPaginated(1);
    expect(fresh.events[0]?.data?.id).toBe('diruser_newer_0003');
  });
});

describe('the events are the webhooks', () => {
  it('ids, types, envelope and data equal the webhook events; object is the enum of the webhook object', async () => {
    createUsers(1);
    fake.upsertUser(org, {
      id: 'diruser_0001',
      name: 'Ada Lovelace',
      roles: ['admin'],
      attributes: { department: 'R&D', employee_id: 42 },
      customAttributes: { level: 3, tags: ['a', 'b'], manager: null },
    });
    fake.upsertGroup(org, { id: 'dirgroup_a', displayName: 'A', externalId: 'okta-a' });
    fake.upsertGroup(org, { id: 'dirgroup_b', displayName: 'B' });
    fake.setUserGroups(org, 'diruser_0001', ['dirgroup_a', 'dirgroup_b']);
    fake.removeGroup(org, 'dirgroup_b');
    fake.removeUser(org, 'diruser_0001');
    const client = sdkOf(fake);
    await client.directory.disableDirectory(org, dir);
    await client.directory.enableDirectory(org, dir);

    const webhooks = fake.webhooks.drop();
    const { events } = await listAll(client, 100);
    expect(events).toHaveLength(webhooks.length);
    const byId = new Map(events.map((e) => [e.id, e]));
    for (const webhook of webhooks) {
      const listed = byId.get(webhook.id);
      expect(listed, webhook.id).toBeDefined();
      expect({
        spec_version: listed?.specVersion,
        id: listed?.id,
        type: listed?.type,
        occurred_at: listed!.occurredAt!.seconds * 1_000_000_000n + BigInt(listed!.occurredAt!.nanos),
        environment_id: listed?.environmentId,
        organization_id: listed?.organizationId,
        object: ObjectType[listed?.object ?? 0],
        data: listed?.data,
      }).toEqual({
        ...webhook,
        occurred_at: parseRfc3339Nanos(webhook.occurred_at),
      });
      expect(listed?.displayName).toBe('');
    }
    expect(new Set(events.map((e) => ObjectType[e.object]))).toEqual(
      new Set(['DirectoryUser', 'DirectoryGroup', 'Directory']),
    );
    expect(events.every((e) => e.environmentId === fake.environmentId)).toBe(true);
  });

  it('a dropped webhook is still listed', async () => {
    createUsers(3);
    const dropped = fake.webhooks.drop();
    expect(fake.webhooks.pending()).toEqual([]);
    const { ids } = await listAll(sdkOf(fake), 10);
    expect(ids).toEqual(dropped.map((e) => e.id).reverse());
  });

  it('a webhook a delivery filter lost is still listed', async () => {
    const received: string[] = [];
    const receiver = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        received.push(String(request.headers['webhook-id']));
        response.writeHead(204).end();
      });
    });
    receiver.listen(0, '127.0.0.1');
    await once(receiver, 'listening');
    try {
      createUsers(4);
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/webhooks`;
      const reports = await fake.webhooks.deliver(url, { filter: (e) => e.data.id !== 'diruser_0002' });
      expect(reports.map((r) => r.status)).toEqual([204, 204, 204]);
      const { events } = await listAll(sdkOf(fake), 10);
      expect(events.map((e) => e.data?.id)).toEqual(['diruser_0004', 'diruser_0003', 'diruser_0002', 'diruser_0001']);
    } finally {
      receiver.close();
    }
  });

  it('refuseFor: 30 minutes of webhooks lost on the fake’s clock, every one listed by that window', async () => {
    createUsers(2, org, 'diruser_before_');
    fake.webhooks.drop();
    clock += MINUTE;
    const outage = fake.webhooks.refuseFor(30 * MINUTE);
    expect(outage).toEqual({ from: clock, until: clock + 30 * MINUTE });
    const during: string[] = [];
    for (let minute = 0; minute < 30; minute++) {
      const id = `diruser_during_${minute}`;
      fake.upsertUser(org, { id });
      during.push(id);
      clock += MINUTE;
    }
    // The clock is at outage.until: webhooks are back.
    fake.upsertUser(org, { id: 'diruser_after' });

    expect(fake.webhooks.refused().map((e) => e.data.id)).toEqual(during);
    expect(fake.webhooks.pending().map((e) => e.data.id)).toEqual(['diruser_after']);
    const refused = fake.webhooks.refused();
    // occurred_at follows the injected clock: one event per minute from the outage's start.
    expect(refused.map((e) => Date.parse(e.occurred_at))).toEqual(during.map((_, m) => outage.from + m * MINUTE));

    const client = sdkOf(fake);
    const window = await listAll(client, 7, { startTime: at(outage.from), endTime: at(outage.until) });
    expect(window.ids).toEqual(refused.map((e) => e.id).reverse());
    expect(window.sizes).toEqual([7, 7, 7, 7, 2]);
    expect((await listAll(client, 100)).ids).toHaveLength(2 + 30 + 1);
  });

  it('refuseFor(0) ends an outage; a negative or non-finite duration is refused', () => {
    fake.webhooks.refuseFor(10 * MINUTE);
    createUsers(1);
    fake.webhooks.refuseFor(0);
    createUsers(1, org, 'diruser_x');
    expect(fake.webhooks.refused().map((e) => e.data.id)).toEqual(['diruser_0001']);
    expect(fake.webhooks.pending().map((e) => e.data.id)).toEqual(['diruser_x0001']);
    expect(fake.events.list()).toHaveLength(2);
    for (const ms of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => fake.webhooks.refuseFor(ms)).toThrow(expect.objectContaining({ code: 'invalid_input' }));
    }
  });
});

describe('ListEventsPaginated filters', () => {
  let other: string;

  beforeEach(() => {
    other = fake.addOrganization({ displayName: 'Globex' }).id;
    fake.addDirectory(other);
    // Interleaved, one second apart: Acme users 1 to 6, Globex users 1 to 6, then groups.
    for (let i = 1; i <= 6; i++) {
      clock += 1000;
      fake.upsertUser(org, { id: `diruser_acme_${i}` });
      clock += 1000;
      fake.upsertUser(other, { id: `diruser_globex_${i}` });
    }
    clock += 1000;
    fake.upsertUser(org, { id: 'diruser_acme_1', name: 'renamed' });
    clock += 1000;
    fake.upsertGroup(org, { id: 'dirgroup_acme', displayName: 'Acme group' });
    clock += 1000;
    fake.upsertGroup(other, { id: 'dirgroup_globex', displayName: 'Globex group' });
  });

  const occurred = (e: { occurred_at: string }) => Date.parse(e.occurred_at);

  it('eventTypes: only events of those exact types', async () => {
    const client = sdkOf(fake);
    const one = await listAll(client, 4, { eventTypes: [GROUP_CREATED] });
    expect(one.ids).toEqual(loggedIdsNewestFirst((e) => e.type === GROUP_CREATED));
    expect(one.ids).toHaveLength(2);
    const two = await listAll(client, 4, { eventTypes: [USER_UPDATED, GROUP_CREATED, USER_UPDATED] });
    expect(two.ids).toEqual(loggedIdsNewestFirst((e) => e.type === USER_UPDATED || e.type === GROUP_CREATED));
    expect((await listAll(client, 4, { eventTypes: ['organization.directory.user'] })).ids).toEqual([]);
  });

  it('startTime is inclusive', async () => {
    const events = fake.events.list();
    const start = occurred(events[4]!);
    const { ids } = await listAll(sdkOf(fake), 5, { startTime: at(start) });
    expect(ids).toEqual(loggedIdsNewestFirst((e) => occurred(e) >= start));
    expect(ids.at(-1)).toBe(events[4]?.id);
  });

  it('endTime is exclusive', async () => {
    const events = fake.events.list();
    const end = occurred(events[4]!);
    const { ids } = await listAll(sdkOf(fake), 5, { endTime: at(end) });
    expect(ids).toEqual(loggedIdsNewestFirst((e) => occurred(e) < end));
    expect(ids[0]).toBe(events[3]?.id);
  });

  it('startTime and endTime to the nanosecond, and an empty range', async () => {
    const client = sdkOf(fake);
    const events = fake.events.list();
    const third = parseRfc3339Nanos(events[2]!.occurred_at)!;
    const ts = (nanos: bigint) => ({ seconds: nanos / 1_000_000_000n, nanos: Number(nanos % 1_000_000_000n) });
    expect((await listAll(client, 10, { startTime: ts(third), endTime: ts(third + 1n) })).ids).toEqual([events[2]?.id]);
    expect((await listAll(client, 10, { startTime: ts(third + 1n), endTime: ts(third + 1n) })).ids).toEqual([]);
  });

  it('a startTime after the endTime is InvalidArgument', async () => {
    const error = await rejection(
      sdkOf(fake).events.listEventsPaginated(10, '', { startTime: at(START + 2000), endTime: at(START + 1000) }),
    );
    expect(error).toBeInstanceOf(ScalekitBadRequestException);
    expect((error as ScalekitServerException).grpcStatus).toBe(3);
    expect((error as Error).message).toMatch(/start_time/);
  });

  it('organizationId: only that organization’s events; an unknown one lists nothing', async () => {
    const client = sdkOf(fake);
    const globex = await listAll(client, 3, { organizationId: other });
    expect(globex.ids).toEqual(loggedIdsNewestFirst((e) => e.organization_id === other));
    expect(globex.ids).toHaveLength(7);
    expect(globex.events.every((e) => e.organizationId === other)).toBe(true);
    expect((await listAll(client, 3, { organizationId: 'org_unknown' })).ids).toEqual([]);
  });

  it('source: DIR_SYNC and unspecified list the directory events, SCALEKIT none', async () => {
    const client = sdkOf(fake);
    const all = loggedIdsNewestFirst();
    expect((await listAll(client, 100, { source: Source.DIR_SYNC })).ids).toEqual(all);
    expect((await listAll(client, 100, { source: Source.SOURCE_UNSPECIFIED })).ids).toEqual(all);
    expect((await listAll(client, 100, { source: Source.SCALEKIT })).ids).toEqual([]);
    const unknown = await rejection(client.events.listEventsPaginated(10, '', { source: 7 as Source }));
    expect(unknown).toBeInstanceOf(ScalekitBadRequestException);
  });

  it('auth-only fields match no directory event', async () => {
    const client = sdkOf(fake);
    for (const filter of [
      { authRequestId: 'authreq_1' },
      { interceptorId: 'int_1' },
      { interceptorStatus: 'SUCCESS' },
      { interceptorDecision: 'ALLOW' },
      { connectionId: 'conn_1' },
      { connectedAccountId: 'ca_1' },
    ]) {
      const page = await client.events.listEventsPaginated(10, '', filter);
      expect(page.events, JSON.stringify(filter)).toEqual([]);
      expect(page.nextPageToken).toBe('');
    }
    expect((await client.events.listEventsPaginated(100, '', { authRequestId: '' })).events).toHaveLength(15);
  });

  it('filters combine with AND, and paging keeps them', async () => {
    const events = fake.events.list();
    const start = occurred(events[2]!);
    const end = occurred(events[12]!);
    const filter: Filter = {
      eventTypes: [USER_CREATED, USER_UPDATED],
      organizationId: org,
      startTime: at(start),
      endTime: at(end),
      source: Source.DIR_SYNC,
    };
    const { ids, sizes } = await listAll(sdkOf(fake), 2, filter);
    const expected = loggedIdsNewestFirst(
      (e) =>
        (e.type === USER_CREATED || e.type === USER_UPDATED) &&
        e.organization_id === org &&
        occurred(e) >= start &&
        occurred(e) < end,
    );
    expect(expected).toHaveLength(5);
    expect(ids).toEqual(expected);
    expect(sizes).toEqual([2, 2, 1]);
  });

  it('a token sent with a different filter is InvalidArgument', async () => {
    const client = sdkOf(fake);
    const page = await client.events.listEventsPaginated(2, '', { organizationId: org });
    const error = await rejection(client.events.listEventsPaginated(2, page.nextPageToken, { organizationId: other }));
    expect(error).toBeInstanceOf(ScalekitBadRequestException);
    expect((error as Error).message).toMatch(/different filter/);
    // The same filter, its types in another order and repeated, is the same filter.
    const typed = await client.events.listEventsPaginated(1, '', { eventTypes: [USER_CREATED, GROUP_CREATED] });
    const next = await client.events.listEventsPaginated(1, typed.nextPageToken, {
      eventTypes: [GROUP_CREATED, USER_CREATED, GROUP_CREATED],
    });
    expect(next.events).toHaveLength(1);
  });
});

describe('errors and faults', () => {
  beforeEach(() => {
    createUsers(25);
  });

  it('a forged, edited or foreign page token is InvalidArgument (ScalekitBadRequestException)', async () => {
    const client = await warmClient();
    const { nextPageToken } = await client.events.listEventsPaginated(5);
    const otherFake = await startFakeScalekit();
    extraFakes.push(otherFake);
    const foreignOrg = otherFake.addOrganization().id;
    otherFake.addDirectory(foreignOrg);
    for (let i = 0; i < 3; i++) otherFake.upsertUser(foreignOrg, { id: `diruser_${i}` });
    const foreign = (await sdkOf(otherFake).events.listEventsPaginated(1)).nextPageToken;
    const directoryToken = (await client.directory.listDirectoryUsers(org, dir, { pageSize: 1 })).nextPageToken;
    const payload = nextPageToken.split('.')[0]!;
    const edited = `${Buffer.from(
      Buffer.from(payload, 'base64url')
        .toString('utf8')
        .replace(/"s":\d+/, '"s":1'),
    ).toString('base64url')}.${nextPageToken.split('.')[1]}`;
    for (const token of ['not-a-token', `${nextPageToken}x`, edited, foreign, directoryToken, '.']) {
      const error = await rejection(client.events.listEventsPaginated(5, token));
      expect(error, token).toBeInstanceOf(ScalekitBadRequestException);
      expect((error as ScalekitServerException).grpcStatus).toBe(3);
    }
    expect((await client.events.listEventsPaginated(5, nextPageToken)).events).toHaveLength(5);
  });

  it('rateLimit: ResourceExhausted (8), not retried by the SDK; other methods unaffected', async () => {
    const client = await warmClient();
    fake.faults.rateLimit({ method: 'ListEventsPaginated' });
    expect((await client.directory.listDirectoryUsers(org, dir)).users).toHaveLength(10);
    const error = await rejection(client.events.listEventsPaginated(10));
    expect(error).toBeInstanceOf(ScalekitTooManyRequestsException);
    expect((error as ScalekitServerException).grpcStatus).toBe(8);
    expect((error as ScalekitServerException).httpStatus).toBe(429);
    expect(fake.stats()).toMatchObject({ calls: { ListEventsPaginated: 1 }, faultsInjected: 1 });
    expect((await client.events.listEventsPaginated(10)).events).toHaveLength(10);
  });

  it('failAfterPages: a backfill fails mid-way, and its token still works after', async () => {
    const client = await warmClient();
    fake.faults.failAfterPages({ pages: 1, method: 'ListEventsPaginated' });
    const page1 = await client.events.listEventsPaginated(10);
    const error = await rejection(client.events.listEventsPaginated(10, page1.nextPageToken));
    expect(error).toBeInstanceOf(ScalekitInternalServerException);
    const page2 = await client.events.listEventsPaginated(10, page1.nextPageToken);
    expect(page2.events.map((e) => e.id)).toEqual(loggedIdsNewestFirst().slice(10, 20));
  });

  it('unavailable once is absorbed by the SDK’s own retry', async () => {
    const client = await warmClient();
    fake.faults.unavailable({ method: 'ListEventsPaginated' });
    expect((await client.events.listEventsPaginated(10)).events).toHaveLength(10);
    expect(fake.stats()).toMatchObject({ calls: { ListEventsPaginated: 2 }, faultsInjected: 1, pagesServed: 1 });
  });

  it('emptyListing answers no events and empty tokens, once', async () => {
    const client = await warmClient();
    fake.faults.emptyListing({ method: 'ListEventsPaginated' });
    const empty = await client.events.listEventsPaginated(10);
    expect([empty.events, empty.nextPageToken, empty.prevPageToken]).toEqual([[], '', '']);
    expect((await client.events.listEventsPaginated(10)).events).toHaveLength(10);
  });

  it('needs a token like every call: the first, tokenless call is Unauthenticated and the SDK fetches one', async () => {
    fake.resetStats();
    const page = await sdkOf(fake).events.listEventsPaginated(3);
    expect(page.events).toHaveLength(3);
    expect(fake.stats()).toMatchObject({ calls: { ListEventsPaginated: 2 }, unauthenticated: 1, tokensIssued: 1 });
  });
});

describe('README', () => {
  it('the lost-webhooks backfill snippet runs as written, against the built package', async () => {
    const packageDir = fileURLToPath(new URL('..', import.meta.url));
    const readme = readFileSync(join(packageDir, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('Thirty minutes of lost webhooks'));
    const snippet = /```js\n([\s\S]*?)```/.exec(section)?.[1];
    if (!snippet) throw new Error('README.md has no js block after "Thirty minutes of lost webhooks"');
    const dir = join(packageDir, 'test', '.tmp');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 'fake-scalekit-events-readme.mjs');
    writeFileSync(file, snippet);
    const { stdout } = await runNode(file);
    expect(stdout.trim()).toBe('30 true 2');
  });
});
