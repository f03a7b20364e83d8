/**
 * The fake Scalekit's in-memory side: mutations and their stamps, the webhook events they queue
 * (delivered signed to a real HTTP receiver), and bulk seeding.
 */
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  normalizeScalekitEvent,
  parseRfc3339Nanos,
  parseScalekitEvent,
  type ScalekitDirectoryEvent,
  verifyWebhook,
} from '@org/scim-core';
import { ScalekitClient } from '@scalekit-sdk/node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeScalekit, FakeScalekitError, startFakeScalekit } from '../src/fake-scalekit.js';

let fake: FakeScalekit;
let org: string;
let dir: string;

beforeEach(async () => {
  fake = await startFakeScalekit();
  org = fake.addOrganization().id;
  dir = fake.addDirectory(org).id;
});

afterEach(async () => {
  await fake.close();
});

function typesAndIds(events: readonly ScalekitDirectoryEvent[]): string[][] {
  return events.map((e) => [e.type.replace('organization.directory.', ''), e.data.id]);
}

describe('mutations', () => {
  it('upsertUser merges: fields left out keep their value, given ones replace it', () => {
    fake.upsertGroup(org, { id: 'dirgroup_a', displayName: 'A' });
    fake.upsertUser(org, {
      id: 'diruser_1',
      email: 'one@example.com',
      givenName: 'One',
      roles: ['member'],
      groups: ['dirgroup_a'],
      attributes: { department: 'Sales' },
    });
    const updated = fake.upsertUser(org, { id: 'diruser_1', givenName: 'Uno', attributes: { title: 'Lead' } });
    expect(updated).toMatchObject({
      id: 'diruser_1',
      organizationId: org,
      directoryId: dir,
      email: 'one@example.com',
      givenName: 'Uno',
      active: true,
      roles: ['member'],
      groups: ['dirgroup_a'],
      attributes: { title: 'Lead' },
    });
    expect(fake.listUsers(org)).toEqual([updated]);
  });

  it('stamps strictly increase even when the clock stands still', async () => {
    const frozen = Date.parse('2026-01-01T00:00:00Z');
    const still = await startFakeScalekit({ now: () => frozen });
    try {
      const o = still.addOrganization().id; // stamp …000
      still.addDirectory(o); // stamp …001
      const a = still.upsertUser(o, { id: 'diruser_a' });
      const b = still.upsertUser(o, { id: 'diruser_b' });
      const a2 = still.upsertUser(o, { id: 'diruser_a', email: 'a@example.com' });
      expect(b.updatedAtNanos).toBeGreaterThan(a.updatedAtNanos);
      expect(a2.updatedAtNanos).toBeGreaterThan(b.updatedAtNanos);
      expect(still.webhooks.pending().map((e) => e.occurred_at)).toEqual([
        '2026-01-01T00:00:00.000000002Z',
        '2026-01-01T00:00:00.000000003Z',
        '2026-01-01T00:00:00.000000004Z',
      ]);
    } finally {
      await still.close();
    }
  });

  it('refuses unknown organizations, groups and users with a coded error', () => {
    const codeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        return error instanceof FakeScalekitError ? error.code : String(error);
      }
      return 'no error';
    };
    expect(codeOf(() => fake.upsertUser('org_missing', { id: 'diruser_1' }))).toBe('organization_not_found');
    expect(codeOf(() => fake.upsertUser(org, { id: 'diruser_1', groups: ['dirgroup_missing'] }))).toBe(
      'group_not_found',
    );
    expect(codeOf(() => fake.removeUser(org, 'diruser_missing'))).toBe('user_not_found');
    expect(codeOf(() => fake.upsertUser(org, { id: 'diruser_1' }, { directoryId: 'dir_missing' }))).toBe(
      'directory_not_found',
    );
    const bare = fake.addOrganization().id;
    expect(codeOf(() => fake.upsertUser(bare, { id: 'diruser_1' }))).toBe('directory_not_found');
    expect(fake.webhooks.pending()).toEqual([]);
  });

  it('removeGroup takes the group off its members and bumps them', () => {
    fake.upsertGroup(org, { id: 'dirgroup_a', displayName: 'A' });
    fake.upsertGroup(org, { id: 'dirgroup_b', displayName: 'B' });
    const before = fake.upsertUser(org, { id: 'diruser_1', groups: ['dirgroup_a', 'dirgroup_b'] });
    fake.upsertUser(org, { id: 'diruser_2', groups: ['dirgroup_b'] });
    fake.removeGroup(org, 'dirgroup_a');
    const [one, two] = fake.listUsers(org);
    expect(one?.groups).toEqual(['dirgroup_b']);
    expect(one?.updatedAtNanos).toBeGreaterThan(before.updatedAtNanos);
    expect(two?.groups).toEqual(['dirgroup_b']);
    expect(fake.listGroups(org).map((g) => [g.id, g.totalUsers])).toEqual([['dirgroup_b', 2]]);
  });

  it('users of a second directory are listed there only', async () => {
    const second = fake.addDirectory(org, { provider: 'GOOGLE' }).id;
    fake.upsertUser(org, { id: 'diruser_primary' });
    fake.upsertUser(org, { id: 'diruser_second' }, { directoryId: second });
    const client = new ScalekitClient(fake.url, fake.clientId, fake.clientSecret);
    const primary = await client.directory.listDirectoryUsers(org, dir);
    const other = await client.directory.listDirectoryUsers(org, second);
    expect(primary.users.map((u) => u.id)).toEqual(['diruser_primary']);
    expect(other.users.map((u) => u.id)).toEqual(['diruser_second']);
    expect(fake.listUsers(org).map((u) => [u.id, u.directoryId])).toEqual([
      ['diruser_primary', dir],
      ['diruser_second', second],
    ]);
  });
});

describe('webhook events', () => {
  it('queues Scalekit’s events in order, each parsing as a directory event stamped like its resource', () => {
    fake.upsertGroup(org, { id: 'dirgroup_a', displayName: 'A', externalId: '00g_a' });
    fake.upsertGroup(org, { id: 'dirgroup_b', displayName: 'B' });
    fake.upsertUser(org, { id: 'diruser_1', email: 'one@example.com', externalId: '00u_1', groups: ['dirgroup_a'] });
    fake.upsertUser(org, { id: 'diruser_2', groups: ['dirgroup_a'] });
    fake.setUserGroups(org, 'diruser_1', ['dirgroup_a', 'dirgroup_b']);
    fake.upsertGroup(org, { id: 'dirgroup_b', displayName: 'B2' });
    fake.removeGroup(org, 'dirgroup_a');
    fake.removeUser(org, 'diruser_1');

    const events = fake.webhooks.pending();
    expect(typesAndIds(events)).toEqual([
      ['group_created', 'dirgroup_a'],
      ['group_created', 'dirgroup_b'],
      ['user_created', 'diruser_1'],
      ['user_created', 'diruser_2'],
      ['user_updated', 'diruser_1'],
      ['group_updated', 'dirgroup_b'],
      ['group_deleted', 'dirgroup_a'],
      ['user_updated', 'diruser_1'],
      ['user_updated', 'diruser_2'],
      ['user_deleted', 'diruser_1'],
    ]);
    for (const event of events) {
      const parsed = parseScalekitEvent(JSON.parse(JSON.stringify(event)));
      expect(parsed.success && parsed.value.kind).toBe('directory');
      expect(event).toMatchObject({ spec_version: '1', environment_id: fake.environmentId, organization_id: org });
      expect(event.id).toMatch(/^evt_\d+$/);
    }
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    const stamps = events.map((e) => parseRfc3339Nanos(e.occurred_at) as bigint);
    for (let i = 1; i < stamps.length; i++) expect(stamps[i]).toBeGreaterThan(stamps[i - 1] as bigint);
    expect(stamps[8]).toBe(fake.listUsers(org).find((u) => u.id === 'diruser_2')?.updatedAtNanos);

    // A membership change is a user_updated carrying the full current groups, names included.
    expect(events[4]?.data).toMatchObject({
      groups: [
        { id: 'dirgroup_a', name: 'A' },
        { id: 'dirgroup_b', name: 'B' },
      ],
    });
    expect(events[6]?.data).toMatchObject({ id: 'dirgroup_a', dp_id: '00g_a' });
    expect(events[6]?.data).not.toHaveProperty('external_id');
    expect(events[9]?.data).toEqual({
      id: 'diruser_1',
      organization_id: org,
      dp_id: '00u_1',
      email: 'one@example.com',
    });
  });

  it('deliver() POSTs each event in order, signed with webhookSecret, and empties the queue', async () => {
    const received: Array<{ id: string; body: unknown }> = [];
    const receiver = await listen((raw, headers) => {
      const { id } = verifyWebhook({ secret: fake.webhookSecret, headers, payload: raw });
      received.push({ id, body: JSON.parse(raw) });
      return 204;
    });
    try {
      fake.upsertGroup(org, { id: 'dirgroup_a', displayName: 'A' });
      fake.upsertUser(org, { id: 'diruser_1', groups: ['dirgroup_a'] });
      fake.removeUser(org, 'diruser_1');
      const pending = fake.webhooks.pending();
      const reports = await fake.webhooks.deliver(receiver.url);

      expect(reports).toEqual(pending.map((e) => ({ eventId: e.id, type: e.type, status: 204 })));
      expect(received.map((r) => r.body)).toEqual(pending);
      expect(received.map((r) => r.id)).toEqual(pending.map((e) => `msg_${e.id}`));
      const upserted = normalizeScalekitEvent(
        (
          parseScalekitEvent(received[1]?.body) as {
            success: true;
            value: Parameters<typeof normalizeScalekitEvent>[0];
          }
        ).value,
      );
      expect(upserted).toMatchObject({
        type: 'user.upserted',
        user: { id: 'diruser_1', groups: [{ id: 'dirgroup_a' }] },
      });
      expect(fake.webhooks.pending()).toEqual([]);
    } finally {
      await receiver.close();
    }
  });

  it('a signature made with another secret is refused by the receiver’s verifier', async () => {
    const receiver = await listen((raw, headers) => {
      verifyWebhook({ secret: 'whsec_b3RoZXItc2VjcmV0LW90aGVyLXNlY3JldA==', headers, payload: raw });
      return 204;
    });
    try {
      fake.upsertUser(org, { id: 'diruser_1' });
      expect(await fake.webhooks.deliver(receiver.url)).toMatchObject([{ status: 401 }]);
    } finally {
      await receiver.close();
    }
  });

  it('deliver({ filter }) drops the rejected events for good; non-2xx answers are reported, not retried', async () => {
    let answer = 200;
    const bodies: ScalekitDirectoryEvent[] = [];
    const receiver = await listen((raw) => {
      bodies.push(JSON.parse(raw));
      return answer;
    });
    try {
      fake.upsertUser(org, { id: 'diruser_1' });
      fake.upsertUser(org, { id: 'diruser_1', email: 'new@example.com' });
      fake.upsertUser(org, { id: 'diruser_2' });
      const reports = await fake.webhooks.deliver(receiver.url, {
        filter: (e) => e.type !== 'organization.directory.user_updated',
      });
      expect(reports.map((r) => r.type)).toEqual([
        'organization.directory.user_created',
        'organization.directory.user_created',
      ]);
      expect(bodies.map((b) => b.data.id)).toEqual(['diruser_1', 'diruser_2']);
      expect(fake.webhooks.pending()).toEqual([]);

      answer = 500;
      fake.removeUser(org, 'diruser_2');
      expect(await fake.webhooks.deliver(receiver.url)).toMatchObject([{ status: 500 }]);
      expect(fake.webhooks.pending()).toEqual([]);
    } finally {
      await receiver.close();
    }
  });

  it('deliver() to an unreachable receiver throws and keeps the events queued', async () => {
    const receiver = await listen(() => 204);
    await receiver.close();
    fake.upsertUser(org, { id: 'diruser_1' });
    fake.upsertUser(org, { id: 'diruser_2' });
    await expect(fake.webhooks.deliver(receiver.url)).rejects.toThrow();
    expect(typesAndIds(fake.webhooks.pending())).toEqual([
      ['user_created', 'diruser_1'],
      ['user_created', 'diruser_2'],
    ]);
  });

  it('drop() discards the queue and returns what was lost', () => {
    fake.upsertUser(org, { id: 'diruser_1' });
    const dropped = fake.webhooks.drop();
    expect(typesAndIds(dropped)).toEqual([['user_created', 'diruser_1']]);
    expect(fake.webhooks.pending()).toEqual([]);
  });
});

describe('seed', () => {
  it('seeds 100,000 users and 2,000 groups fast, deterministically, without events', async () => {
    const started = performance.now();
    const { userIds, groupIds } = fake.seed(org, { users: 100_000, groups: 2_000 });
    const elapsed = performance.now() - started;
    console.log(`seed(100,000 users, 2,000 groups): ${elapsed.toFixed(0)} ms`);

    expect(userIds).toHaveLength(100_000);
    expect(groupIds).toHaveLength(2_000);
    expect([userIds[0], userIds.at(-1), groupIds[0], groupIds.at(-1)]).toEqual([
      'diruser_000001',
      'diruser_100000',
      'dirgroup_000001',
      'dirgroup_002000',
    ]);
    expect(fake.webhooks.pending()).toEqual([]);
    const groups = fake.listGroups(org);
    expect(groups.reduce((sum, g) => sum + g.totalUsers, 0)).toBe(200_000);
    expect(groups.every((g) => g.totalUsers === 100)).toBe(true);

    const client = new ScalekitClient(fake.url, fake.clientId, fake.clientSecret);
    const page = await client.directory.listDirectoryUsers(org, dir, {
      pageSize: 100,
      includeDetail: true,
      directoryGroupId: 'dirgroup_000042',
    });
    expect(page.totalSize).toBe(100);
    expect(page.nextPageToken).toBe('');
    const detail = page.users[0]?.userDetail;
    expect(detail).toMatchObject({
      id: page.users[0]?.id,
      email: expect.stringMatching(/@example\.com$/),
      dp_id: expect.stringMatching(/^00u/),
      given_name: expect.any(String),
      family_name: expect.any(String),
      department: expect.any(String),
      title: expect.any(String),
      roles: [{ role_name: expect.any(String) }],
      groups: expect.arrayContaining([{ id: 'dirgroup_000042', name: expect.any(String) }]),
    });
  });

  it('a second seed with a prefix adds alongside; reusing ids is refused', () => {
    fake.seed(org, { users: 3, groups: 1 });
    const second = fake.seed(org, { users: 2, groups: 1, prefix: 'b' });
    expect(second.userIds).toEqual(['diruser_b000001', 'diruser_b000002']);
    expect(fake.listUsers(org)).toHaveLength(5);
    expect(() => fake.seed(org, { users: 1, groups: 0 })).toThrow(FakeScalekitError);
  });
});

interface Receiver {
  url: string;
  close(): Promise<void>;
}

/** A real node:http webhook receiver: `handle` gets the raw body and headers and returns a status (a throw is 401). */
async function listen(handle: (raw: string, headers: Record<string, string>) => number): Promise<Receiver> {
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      let status: number;
      try {
        status = handle(Buffer.concat(chunks).toString('utf8'), request.headers as Record<string, string>);
      } catch {
        status = 401;
      }
      response.writeHead(status).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/webhooks/scalekit`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
