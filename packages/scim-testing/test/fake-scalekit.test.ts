/**
 * The fake Scalekit, driven by the real `@scalekit-sdk/node` client over real 127.0.0.1 sockets:
 * tokens, paging, filters, detail payloads, organizations, directories and every fault.
 */
import { create } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import {
  normalizeScalekitGroup,
  normalizeScalekitUser,
  scalekitDirectoryGroupSchema,
  scalekitDirectoryUserSchema,
} from '@org/scim-core';
import {
  ScalekitBadRequestException,
  ScalekitClient,
  ScalekitInternalServerException,
  ScalekitNotFoundException,
  ScalekitNotImplementedException,
  ScalekitServerException,
  ScalekitTooManyRequestsException,
} from '@scalekit-sdk/node';
import {
  DirectoryService,
  ListDirectoryUsersRequestSchema,
} from '@scalekit-sdk/node/lib/pkg/grpc/scalekit/v1/directories/directories_pb.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeScalekit, startFakeScalekit } from '../src/fake-scalekit.js';
import { rejection, sdkOf } from './sdk.js';

const START = Date.parse('2026-03-01T12:00:00.000Z');

let fake: FakeScalekit;
let clock: number;
let org: string;
let dir: string;

const sdk = () => sdkOf(fake);

/** A client that already holds a token, so later call counts show only what a test provokes. */
async function warmClient(): Promise<ScalekitClient> {
  const client = sdk();
  await client.directory.listDirectories(org);
  fake.resetStats();
  return client;
}

async function listAllUsers(
  client: ScalekitClient,
  options: { pageSize?: number; directoryGroupId?: string; updatedAfter?: string } = {},
) {
  const ids: string[] = [];
  const pageSizes: number[] = [];
  let pageToken = '';
  do {
    const page = await client.directory.listDirectoryUsers(org, dir, { ...options, pageToken });
    ids.push(...page.users.map((u) => u.id));
    pageSizes.push(page.users.length);
    pageToken = page.nextPageToken;
  } while (pageToken !== '');
  return { ids, pageSizes };
}

beforeEach(async () => {
  clock = START;
  fake = await startFakeScalekit({ now: () => clock, tokenTtlSeconds: 600 });
  org = fake.addOrganization({ displayName: 'Acme' }).id;
  dir = fake.addDirectory(org).id;
});

afterEach(async () => {
  await fake.close();
});

describe('authentication', () => {
  it('answers the first, tokenless call Unauthenticated; the SDK then fetches a token and retries', async () => {
    const client = sdk();
    const { directories } = await client.directory.listDirectories(org);
    expect(directories.map((d) => d.id)).toEqual([dir]);
    expect(fake.stats()).toMatchObject({ calls: { ListDirectories: 2 }, unauthenticated: 1, tokensIssued: 1 });

    await client.directory.listDirectories(org);
    expect(fake.stats()).toMatchObject({ calls: { ListDirectories: 3 }, unauthenticated: 1, tokensIssued: 1 });
  });

  it('refuses a wrong client secret with 401 invalid_client, which the SDK surfaces as a raw AxiosError', async () => {
    const client = new ScalekitClient(fake.url, fake.clientId, 'not-the-secret');
    const error = (await rejection(client.directory.listDirectories(org))) as {
      name: string;
      response?: { status: number; data: unknown };
    };
    expect(error).not.toBeInstanceOf(ScalekitServerException);
    expect(error.name).toBe('AxiosError');
    expect(error.response?.status).toBe(401);
    expect(error.response?.data).toMatchObject({ error: 'invalid_client' });
    expect(fake.stats().tokensIssued).toBe(0);
  });

  it('serves the token endpoint over HTTP/1.1 on the same port, form body in, OAuth JSON out', async () => {
    const post = (body: string) =>
      fetch(`${fake.url}/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: fake.clientId,
      client_secret: fake.clientSecret,
    });
    const ok = await post(form.toString());
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ access_token: expect.any(String), token_type: 'Bearer', expires_in: 600 });

    form.set('grant_type', 'password');
    const wrongGrant = await post(form.toString());
    expect(wrongGrant.status).toBe(400);
    expect(await wrongGrant.json()).toMatchObject({ error: 'unsupported_grant_type' });

    const unknownPath = await fetch(`${fake.url}/keys`);
    expect(unknownPath.status).toBe(404);
  });

  it('rejects an unknown bearer token with Unauthenticated (16)', async () => {
    const raw = createClient(DirectoryService, createGrpcTransport({ baseUrl: fake.url }));
    const request = create(ListDirectoryUsersRequestSchema, { organizationId: org, directoryId: dir });
    await expect(
      raw.listDirectoryUsers(request, { headers: { authorization: 'Bearer forged' } }),
    ).rejects.toMatchObject({ code: 16 });
    expect(fake.stats().unauthenticated).toBe(1);
  });

  it('expireTokens() mid-listing: the next page still arrives, with a new token', async () => {
    fake.seed(org, { users: 250, groups: 5 });
    const client = await warmClient();
    const first = await client.directory.listDirectoryUsers(org, dir, { pageSize: 100 });
    fake.expireTokens();
    const second = await client.directory.listDirectoryUsers(org, dir, {
      pageSize: 100,
      pageToken: first.nextPageToken,
    });
    expect(second.users).toHaveLength(100);
    expect(second.users[0]?.id).not.toBe(first.users[0]?.id);
    expect(fake.stats()).toMatchObject({ tokensIssued: 1, unauthenticated: 1, calls: { ListDirectoryUsers: 3 } });
  });

  it('tokens expire after tokenTtlSeconds on the injected clock', async () => {
    const client = await warmClient();
    clock += 599_000;
    await client.directory.listDirectories(org);
    expect(fake.stats().tokensIssued).toBe(0);
    clock += 1_000;
    await client.directory.listDirectories(org);
    expect(fake.stats()).toMatchObject({ tokensIssued: 1, unauthenticated: 1 });
  });
});

describe('ListDirectoryUsers paging', () => {
  it('pages through 1,050 users by 100: every user exactly once, in id order, the last token empty', async () => {
    const { userIds } = fake.seed(org, { users: 1_050, groups: 10 });
    const client = await warmClient();
    const first = await client.directory.listDirectoryUsers(org, dir, { pageSize: 100 });
    expect(first.totalSize).toBe(1_050);
    expect(first.prevPageToken).toBe('');

    const { ids, pageSizes } = await listAllUsers(client, { pageSize: 100 });
    expect(pageSizes).toEqual([...Array(10).fill(100), 50]);
    expect(ids).toEqual(userIds);
    expect(new Set(ids).size).toBe(1_050);
    expect(fake.stats().pagesServed).toBe(12);
  });

  it('is a keyset cursor: inserts and deletes between pages neither repeat nor skip the others', async () => {
    const { userIds } = fake.seed(org, { users: 30, groups: 0 });
    const client = await warmClient();
    const page1 = await client.directory.listDirectoryUsers(org, dir, { pageSize: 10 });
    // Before the cursor: an insert and a delete that would shift an offset-based page by one each way.
    fake.upsertUser(org, { id: 'diruser_000000a' });
    fake.removeUser(org, userIds[3] as string);
    fake.removeUser(org, userIds[4] as string);
    // After the cursor: a deleted user must not appear, an inserted one must.
    fake.removeUser(org, userIds[20] as string);
    fake.upsertUser(org, { id: `${userIds[25]}x` });

    const seen = page1.users.map((u) => u.id);
    let pageToken = page1.nextPageToken;
    while (pageToken !== '') {
      const page = await client.directory.listDirectoryUsers(org, dir, { pageSize: 10, pageToken });
      seen.push(...page.users.map((u) => u.id));
      pageToken = page.nextPageToken;
    }
    const survivors = userIds.filter((id) => id !== userIds[20]);
    expect(seen.filter((id) => survivors.includes(id))).toEqual(survivors);
    expect(seen).toContain(`${userIds[25]}x`);
    expect(seen).not.toContain(userIds[20]);
    expect(new Set(seen).size).toBe(seen.length);
  });

  it('prevPageToken leads back to the previous page', async () => {
    fake.seed(org, { users: 35, groups: 0 });
    const client = await warmClient();
    const page1 = await client.directory.listDirectoryUsers(org, dir, { pageSize: 10 });
    const page2 = await client.directory.listDirectoryUsers(org, dir, { pageSize: 10, pageToken: page1.nextPageToken });
    const back = await client.directory.listDirectoryUsers(org, dir, { pageSize: 10, pageToken: page2.prevPageToken });
    expect(back.users.map((u) => u.id)).toEqual(page1.users.map((u) => u.id));
    expect(back.prevPageToken).toBe('');
  });

  it('defaults pageSize 0 to 10 and caps it at 100', async () => {
    fake.seed(org, { users: 150, groups: 0 });
    const client = await warmClient();
    expect((await client.directory.listDirectoryUsers(org, dir)).users).toHaveLength(10);
    expect((await client.directory.listDirectoryUsers(org, dir, { pageSize: 500 })).users).toHaveLength(100);
  });

  it('answers a forged page token InvalidArgument (ScalekitBadRequestException)', async () => {
    const client = await warmClient();
    const error = await rejection(client.directory.listDirectoryUsers(org, dir, { pageToken: 'not-a-token' }));
    expect(error).toBeInstanceOf(ScalekitBadRequestException);
    expect((error as ScalekitServerException).grpcStatus).toBe(3);
  });

  it('answers NotFound for an unknown organization, directory or group', async () => {
    const client = await warmClient();
    for (const call of [
      client.directory.listDirectoryUsers('org_missing', dir),
      client.directory.listDirectoryUsers(org, 'dir_missing'),
      client.directory.listDirectoryUsers(org, dir, { directoryGroupId: 'dirgroup_missing' }),
      client.directory.listDirectoryGroups(org, 'dir_missing'),
    ]) {
      const error = await rejection(call);
      expect(error).toBeInstanceOf(ScalekitNotFoundException);
      expect((error as ScalekitServerException).grpcStatus).toBe(5);
    }
  });
});

describe('ListDirectoryUsers filters', () => {
  it('directoryGroupId lists only that group’s members, paged', async () => {
    fake.seed(org, { users: 300, groups: 6, groupsPerUser: 2 });
    const group = fake.listGroups(org)[2];
    if (!group) throw new Error('seed made no groups');
    const members = fake
      .listUsers(org)
      .filter((u) => u.groups.includes(group.id))
      .map((u) => u.id);
    expect(members.length).toBe(group.totalUsers);
    expect(members.length).toBeGreaterThan(0);

    const client = await warmClient();
    const { ids } = await listAllUsers(client, { pageSize: 30, directoryGroupId: group.id });
    expect(ids).toEqual(members);
  });

  it('updatedAfter lists only users changed strictly after the instant', async () => {
    fake.seed(org, { users: 50, groups: 2 });
    clock += 60_000;
    fake.upsertUser(org, { id: 'diruser_000007', givenName: 'Renamed' });
    fake.setUserGroups(org, 'diruser_000020', []);
    fake.upsertUser(org, { id: 'diruser_new' });
    const client = await warmClient();
    const { ids } = await listAllUsers(client, { updatedAfter: new Date(START + 30_000).toISOString() });
    expect(ids).toEqual(['diruser_000007', 'diruser_000020', 'diruser_new']);
    // The three stamps are clock + 0, 1 and 2 ns: strictly after the millisecond means none.
    const page = await client.directory.listDirectoryUsers(org, dir, {
      updatedAfter: new Date(clock + 1).toISOString(),
    });
    expect(page.users).toEqual([]);
    expect(page.totalSize).toBe(0);
  });

  it('updatedAfter filters groups too', async () => {
    fake.seed(org, { users: 10, groups: 4 });
    clock += 60_000;
    fake.upsertGroup(org, { id: 'dirgroup_000003', displayName: 'Renamed' });
    const client = await warmClient();
    const page = await client.directory.listDirectoryGroups(org, dir, {
      updatedAfter: new Date(START + 30_000).toISOString(),
    });
    expect(page.groups.map((g) => [g.id, g.displayName])).toEqual([['dirgroup_000003', 'Renamed']]);
  });
});

describe('listing payloads', () => {
  beforeEach(() => {
    fake.upsertGroup(org, { id: 'dirgroup_eng', displayName: 'Engineering', externalId: '00g_eng' });
    fake.upsertGroup(org, { id: 'dirgroup_ops', displayName: 'Operations' });
    fake.upsertUser(org, {
      id: 'diruser_ada',
      email: 'ada@example.com',
      preferredUsername: 'ada',
      givenName: 'Ada',
      familyName: 'Lovelace',
      name: 'Ada Lovelace',
      externalId: '00u_ada',
      roles: ['admin', 'billing_admin'],
      groups: ['dirgroup_eng', 'dirgroup_ops'],
      attributes: { department: 'R&D', title: 'Engineer', employee_id: 'E-1' },
      customAttributes: { shirt: 'M', level: 3 },
    });
    fake.upsertUser(org, { id: 'diruser_bob', email: 'bob@example.com', active: false });
  });

  it('fills the typed fields; updatedAt is nanosecond exact; userDetail only with includeDetail', async () => {
    const client = await warmClient();
    const { users } = await client.directory.listDirectoryUsers(org, dir);
    const ada = users.find((u) => u.id === 'diruser_ada');
    expect(ada).toMatchObject({
      email: 'ada@example.com',
      preferredUsername: 'ada',
      givenName: 'Ada',
      familyName: 'Lovelace',
      emails: ['ada@example.com'],
    });
    expect(ada?.groups.map((g) => [g.id, g.displayName])).toEqual([
      ['dirgroup_eng', 'Engineering'],
      ['dirgroup_ops', 'Operations'],
    ]);
    expect(ada?.userDetail).toBeUndefined();
    const stamp = ada?.updatedAt ? ada.updatedAt.seconds * 1_000_000_000n + BigInt(ada.updatedAt.nanos) : 0n;
    expect(stamp).toBe(fake.listUsers(org).find((u) => u.id === 'diruser_ada')?.updatedAtNanos);
  });

  it('userDetail is exactly the data of the user’s webhook event, and both normalize to the same user', async () => {
    const event = fake.webhooks
      .pending()
      .filter((e) => e.type === 'organization.directory.user_created' && e.data.id === 'diruser_ada')
      .at(-1);
    const client = await warmClient();
    const { users } = await client.directory.listDirectoryUsers(org, dir, { includeDetail: true });
    const detail = users.find((u) => u.id === 'diruser_ada')?.userDetail;
    expect(detail).toEqual(event?.data);
    expect(detail).toEqual({
      id: 'diruser_ada',
      organization_id: org,
      dp_id: '00u_ada',
      email: 'ada@example.com',
      preferred_username: 'ada',
      active: true,
      name: 'Ada Lovelace',
      given_name: 'Ada',
      family_name: 'Lovelace',
      groups: [
        { id: 'dirgroup_eng', name: 'Engineering' },
        { id: 'dirgroup_ops', name: 'Operations' },
      ],
      roles: [{ role_name: 'admin' }, { role_name: 'billing_admin' }],
      custom_attributes: { shirt: 'M', level: 3 },
      raw_attributes: {},
      department: 'R&D',
      title: 'Engineer',
      employee_id: 'E-1',
    });
    const fromListing = normalizeScalekitUser(scalekitDirectoryUserSchema.parse(detail));
    const fromWebhook = normalizeScalekitUser(scalekitDirectoryUserSchema.parse(event?.data));
    expect(fromListing).toEqual(fromWebhook);
    expect(fromListing.attributes).toEqual({ department: 'R&D', title: 'Engineer', employee_id: 'E-1' });
  });

  it('lists inactive users, active: false in userDetail', async () => {
    const client = await warmClient();
    const { users } = await client.directory.listDirectoryUsers(org, dir, { includeDetail: true });
    expect(users.find((u) => u.id === 'diruser_bob')?.userDetail).toMatchObject({ active: false });
  });

  it('groups carry totalUsers and updatedAt; groupDetail is the group event’s data', async () => {
    const client = await warmClient();
    const plain = await client.directory.listDirectoryGroups(org, dir);
    expect(plain.groups.map((g) => [g.id, g.displayName, g.totalUsers, g.groupDetail])).toEqual([
      ['dirgroup_eng', 'Engineering', 1, undefined],
      ['dirgroup_ops', 'Operations', 1, undefined],
    ]);
    const { groups } = await client.directory.listDirectoryGroups(org, dir, { includeDetail: true });
    const event = fake.webhooks.pending().find((e) => e.type === 'organization.directory.group_created');
    expect(groups[0]?.groupDetail).toEqual(event?.data);
    expect(groups[0]?.groupDetail).toEqual({
      id: 'dirgroup_eng',
      organization_id: org,
      directory_id: dir,
      display_name: 'Engineering',
      external_id: '00g_eng',
      raw_attributes: {},
    });
    expect(normalizeScalekitGroup(scalekitDirectoryGroupSchema.parse(groups[0]?.groupDetail))).toEqual({
      id: 'dirgroup_eng',
      organizationId: org,
      directoryId: dir,
      displayName: 'Engineering',
      externalId: '00g_eng',
      origin: 'scalekit',
    });
  });
});

describe('organizations and directories', () => {
  it('ListOrganization pages by pageSize and pageToken', async () => {
    for (let i = 0; i < 24; i++) fake.addOrganization({ displayName: `Org ${i}`, externalId: `ext_${i}` });
    const client = await warmClient();
    const ids: string[] = [];
    let pageToken = '';
    let pages = 0;
    do {
      const page = await client.organization.listOrganization({ pageSize: 10, pageToken });
      expect(page.totalSize).toBe(25);
      ids.push(...page.organizations.map((o) => o.id));
      pageToken = page.nextPageToken;
      pages += 1;
    } while (pageToken !== '');
    expect(pages).toBe(3);
    expect(ids).toEqual([...ids].sort());
    expect(new Set(ids).size).toBe(25);
    expect(ids).toContain(org);
  });

  it('GetOrganization finds by id; an unknown id is NotFound', async () => {
    const client = await warmClient();
    const { organization } = await client.organization.getOrganization(org);
    expect(organization).toMatchObject({ id: org, displayName: 'Acme' });
    expect(await rejection(client.organization.getOrganization('org_missing'))).toBeInstanceOf(
      ScalekitNotFoundException,
    );
  });

  it('getPrimaryDirectoryByOrganizationId returns the first directory (it calls ListDirectories)', async () => {
    fake.addDirectory(org, { provider: 'MICROSOFT_AD' });
    const client = await warmClient();
    const primary = await client.directory.getPrimaryDirectoryByOrganizationId(org);
    expect(primary).toMatchObject({ id: dir, organizationId: org, enabled: true, directoryProvider: 1 });
    expect(fake.stats().calls).toEqual({ ListDirectories: 1 });
  });

  it('getPrimaryDirectoryByOrganizationId rejects with a plain string when there is none', async () => {
    const bare = fake.addOrganization().id;
    const client = await warmClient();
    expect(await rejection(client.directory.getPrimaryDirectoryByOrganizationId(bare))).toBe(
      'directory does not exist for organization',
    );
    expect(await rejection(client.directory.getPrimaryDirectoryByOrganizationId('org_missing'))).toBeInstanceOf(
      ScalekitNotFoundException,
    );
  });

  it('GetDirectory, DisableDirectory and EnableDirectory; toggles queue directory events', async () => {
    fake.seed(org, { users: 5, groups: 2 });
    const client = await warmClient();
    expect((await client.directory.getDirectory(org, dir)).directory).toMatchObject({
      id: dir,
      totalUsers: 5,
      totalGroups: 2,
      enabled: true,
    });
    expect(await client.directory.disableDirectory(org, dir)).toMatchObject({ enabled: false });
    expect((await client.directory.getDirectory(org, dir)).directory?.enabled).toBe(false);
    expect(await client.directory.enableDirectory(org, dir)).toMatchObject({ enabled: true });
    expect(fake.webhooks.pending().map((e) => [e.type, e.data.id])).toEqual([
      ['organization.directory_disabled', dir],
      ['organization.directory_enabled', dir],
    ]);
    expect(await rejection(client.directory.getDirectory(org, 'dir_missing'))).toBeInstanceOf(
      ScalekitNotFoundException,
    );
  });

  it('methods the fake does not implement answer Unimplemented', async () => {
    const client = await warmClient();
    const error = await rejection(client.directory.deleteDirectory(org, dir));
    expect(error).toBeInstanceOf(ScalekitNotImplementedException);
    expect((error as ScalekitServerException).grpcStatus).toBe(12);
  });
});

describe('faults', () => {
  beforeEach(() => {
    fake.seed(org, { users: 250, groups: 3 });
  });

  it('rateLimit: ResourceExhausted (8) once, which the SDK throws without retrying', async () => {
    const client = await warmClient();
    fake.faults.rateLimit({ method: 'ListDirectoryUsers' });
    const error = await rejection(client.directory.listDirectoryUsers(org, dir));
    expect(error).toBeInstanceOf(ScalekitTooManyRequestsException);
    expect((error as ScalekitServerException).grpcStatus).toBe(8);
    expect((error as ScalekitServerException).httpStatus).toBe(429);
    expect(fake.stats()).toMatchObject({ calls: { ListDirectoryUsers: 1 }, faultsInjected: 1 });
    expect((await client.directory.listDirectoryUsers(org, dir)).users).toHaveLength(10);
  });

  it('a fault aimed at one method leaves the others alone', async () => {
    const client = await warmClient();
    fake.faults.rateLimit({ method: 'ListDirectoryGroups', times: 2 });
    expect((await client.directory.listDirectoryUsers(org, dir)).users).toHaveLength(10);
    expect(await rejection(client.directory.listDirectoryGroups(org, dir))).toBeInstanceOf(
      ScalekitTooManyRequestsException,
    );
    expect(await rejection(client.directory.listDirectoryGroups(org, dir))).toBeInstanceOf(
      ScalekitTooManyRequestsException,
    );
    expect((await client.directory.listDirectoryGroups(org, dir)).groups).toHaveLength(3);
  });

  it('unavailable once: Unavailable (14), which the SDK retries by itself and then succeeds', async () => {
    const client = await warmClient();
    fake.faults.unavailable();
    const page = await client.directory.listDirectoryUsers(org, dir, { pageSize: 100 });
    expect(page.users).toHaveLength(100);
    expect(fake.stats()).toMatchObject({ calls: { ListDirectoryUsers: 2 }, faultsInjected: 1, pagesServed: 1 });
  });

  it('failAfterPages: serves the pages, then fails the next call with Internal (13), then recovers', async () => {
    const client = await warmClient();
    fake.faults.failAfterPages({ pages: 2 });
    const page1 = await client.directory.listDirectoryUsers(org, dir, { pageSize: 100 });
    const page2 = await client.directory.listDirectoryUsers(org, dir, {
      pageSize: 100,
      pageToken: page1.nextPageToken,
    });
    const error = await rejection(
      client.directory.listDirectoryUsers(org, dir, { pageSize: 100, pageToken: page2.nextPageToken }),
    );
    expect(error).toBeInstanceOf(ScalekitInternalServerException);
    expect((error as ScalekitServerException).grpcStatus).toBe(13);
    const page3 = await client.directory.listDirectoryUsers(org, dir, {
      pageSize: 100,
      pageToken: page2.nextPageToken,
    });
    expect(page3.users).toHaveLength(50);
    expect(page3.nextPageToken).toBe('');
  });

  it('failAfterPages with code unavailable is absorbed by the SDK’s own retry', async () => {
    const client = await warmClient();
    fake.faults.failAfterPages({ pages: 1, code: 'unavailable', method: 'ListDirectoryUsers' });
    const { ids } = await listAllUsers(client, { pageSize: 100 });
    expect(ids).toHaveLength(250);
    expect(fake.stats()).toMatchObject({ calls: { ListDirectoryUsers: 4 }, faultsInjected: 1 });
  });

  it('emptyListing: no users, totalSize 0 and an empty nextPageToken, once', async () => {
    const client = await warmClient();
    fake.faults.emptyListing();
    const empty = await client.directory.listDirectoryUsers(org, dir, { pageSize: 100 });
    expect(empty).toMatchObject({ users: [], totalSize: 0, nextPageToken: '' });
    const full = await client.directory.listDirectoryUsers(org, dir, { pageSize: 100 });
    expect(full.users).toHaveLength(100);
    expect(full.totalSize).toBe(250);
  });

  it('clear() disarms everything', async () => {
    const client = await warmClient();
    fake.faults.rateLimit({ times: 5 });
    fake.faults.emptyListing();
    fake.faults.clear();
    expect((await client.directory.listDirectoryUsers(org, dir)).users).toHaveLength(10);
    expect(fake.stats().faultsInjected).toBe(0);
  });
});

describe('close()', () => {
  it('ends promptly while the SDK holds an idle HTTP/2 session, and the port stops answering', async () => {
    const client = sdk();
    await client.directory.listDirectories(org);
    const started = performance.now();
    await fake.close();
    expect(performance.now() - started).toBeLessThan(1_000);
    await expect(fetch(`${fake.url}/oauth/token`, { method: 'POST' })).rejects.toThrow();
  });
});
