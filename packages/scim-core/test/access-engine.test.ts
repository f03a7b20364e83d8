/**
 * App roles from the directory, through the engine: `accessChanged` once per effective change, in
 * the event's transaction, over real HTTP for Scalekit's webhooks and for the SCIM server, on the
 * memory store. The same cases for every trigger: a membership, Scalekit roles, a group renamed
 * (matched by name), a group deleted, a user deactivated or deleted, manual roles.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AccessChanged,
  type AccessRulesInput,
  createEngine,
  createScalekitWebhookReceiver,
  type EngineOptions,
  generateScimToken,
  handleScimNodeRequest,
  memoryStore,
  PATCH_OP_SCHEMA,
  type ProvisioningStore,
  receiveNodeRequest,
  scimTokenAuthenticator,
  signWebhook,
  writeNodeResponse,
} from '../src/index.js';
import { createScimServer } from '../src/scim/server.js';
import { user as directoryUser, events, ORG, T0 } from './helpers.js';

const secret = `whsec_${randomBytes(32).toString('base64')}`;
const ORG_SK = 'org_scalekit';
const ORG_SCIM = 'org_scim';

interface Call {
  eventId: string;
  user: string;
  granted: readonly string[];
  revoked: readonly string[];
  roles: readonly string[];
  managed: readonly string[];
  manual: readonly string[];
}

/** An engine, a webhook receiver and a SCIM server behind one HTTP server on 127.0.0.1; the app keeps each user's roles. */
async function harness(
  options: { access?: EngineOptions['access']; store?: ProvisioningStore; fail?: () => boolean } = {},
) {
  const calls: Call[] = [];
  const appRoles = new Map<string, readonly string[]>();
  const store = options.store ?? memoryStore();
  const engine = createEngine({
    store,
    ...(options.access && { access: options.access }),
    handlers: {
      accessChanged(change: AccessChanged) {
        if (options.fail?.()) throw new Error('the app is down');
        calls.push({
          eventId: change.event.id,
          user: change.user.id,
          granted: change.granted,
          revoked: change.revoked,
          roles: change.roles,
          managed: change.managed,
          manual: change.manual,
        });
        appRoles.set(change.user.id, change.roles);
      },
    },
  });
  const receiver = createScalekitWebhookReceiver({ engine, secret });
  const token = generateScimToken();
  const scimServer = createScimServer({
    engine,
    authenticator: scimTokenAuthenticator([{ organizationId: ORG_SCIM, tokenHash: token.tokenHash }]),
  });
  const http = createServer((request, response) => {
    if (request.url?.startsWith('/webhooks/scalekit')) {
      void receiveNodeRequest(receiver, { request }).then((answer) => writeNodeResponse(response, answer));
    } else void handleScimNodeRequest(scimServer, { request, response });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  let seq = 0;

  /** Posts a signed Scalekit event; answers the HTTP status. */
  async function webhook(type: string, data: Record<string, unknown>, at = ++seq): Promise<number> {
    const id = `evt_${String(at).padStart(6, '0')}_${type.split('.').at(-1)}`;
    const body = JSON.stringify({
      spec_version: '1',
      id,
      type: `organization.directory.${type}`,
      occurred_at: new Date(Date.UTC(2025, 0, 1) + at * 1000).toISOString(),
      environment_id: 'env_1',
      organization_id: ORG_SK,
      object: type.startsWith('user') ? 'DirectoryUser' : 'DirectoryGroup',
      data: { organization_id: ORG_SK, ...data },
    });
    const response = await fetch(`${origin}/webhooks/scalekit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signWebhook({ secret, id, payload: body }) },
      body,
    });
    await response.text();
    return response.status;
  }

  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary SCIM JSON.
  async function scim(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
    const response = await fetch(`${origin}/scim/v2${path}`, {
      method,
      headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/scim+json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  }

  const close = () => new Promise<void>((resolve) => http.close(() => resolve()));
  return { engine, store, calls, appRoles, webhook, scim, close };
}

type Harness = Awaited<ReturnType<typeof harness>>;
let open: Harness[] = [];
afterEach(async () => {
  await Promise.all(open.map((h) => h.close()));
  open = [];
});
async function start(options?: Parameters<typeof harness>[0]): Promise<Harness> {
  const h = await harness(options);
  open.push(h);
  return h;
}

const skUser = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  email: `${id}@example.com`,
  active: true,
  groups: [],
  roles: [],
  ...extra,
});

const patch = (...Operations: unknown[]) => ({ schemas: [PATCH_OP_SCHEMA], Operations });

describe('access over Scalekit webhooks (real HTTP, memory store)', () => {
  const rules: AccessRulesInput = {
    defaultRoles: ['member'],
    rules: [
      { match: 'groupId', value: 'dirgroup_eng', grant: ['engineer'] },
      { match: 'groupName', value: 'admins', grant: ['admin'] },
      { match: 'role', value: 'billing_admin', source: 'scalekit', grant: ['billing'] },
    ],
  };

  async function withRules() {
    const h = await start({ access: {} });
    expect(await h.engine.access?.putRules(ORG_SK, rules, 0)).toEqual({ status: 'saved', revision: 1 });
    return h;
  }

  it('grants the default and matched roles once when a user arrives, and calls nothing for the same state again', async () => {
    const h = await withRules();
    expect(
      await h.webhook('user_created', skUser('diruser_1', { groups: [{ id: 'dirgroup_eng', name: 'Eng' }] })),
    ).toBe(200);
    expect(h.calls).toEqual([
      expect.objectContaining({
        user: 'diruser_1',
        granted: ['engineer', 'member'],
        revoked: [],
        roles: ['engineer', 'member'],
        managed: ['engineer', 'member'],
        manual: [],
      }),
    ]);
    // The same state again (another event, a profile change only): no access call.
    expect(
      await h.webhook(
        'user_updated',
        skUser('diruser_1', { name: 'New Name', groups: [{ id: 'dirgroup_eng', name: 'Eng' }] }),
      ),
    ).toBe(200);
    expect(h.calls).toHaveLength(1);
  });

  it('follows memberships and Scalekit roles in each user_updated snapshot, granting and revoking only what changed', async () => {
    const h = await withRules();
    await h.webhook('user_created', skUser('diruser_1'));
    await h.webhook('user_updated', skUser('diruser_1', { roles: [{ role_name: 'billing_admin' }] }));
    await h.webhook('user_updated', skUser('diruser_1', { groups: [{ id: 'dirgroup_eng', name: 'Eng' }] }));
    expect(h.calls.map(({ granted, revoked }) => ({ granted, revoked }))).toEqual([
      { granted: ['member'], revoked: [] },
      { granted: ['billing'], revoked: [] },
      { granted: ['engineer'], revoked: ['billing'] },
    ]);
    expect(h.appRoles.get('diruser_1')).toEqual(['engineer', 'member']);
  });

  it("moves roles with a rename when a rule matches the group's name, case-insensitively, for every member", async () => {
    const h = await withRules();
    await h.webhook('group_created', {
      id: 'dirgroup_x',
      display_name: 'Staff',
      directory_id: 'dir_1',
      external_id: null,
    });
    for (const id of ['diruser_1', 'diruser_2', 'diruser_3']) {
      await h.webhook('user_created', skUser(id, { groups: [{ id: 'dirgroup_x', name: 'Staff' }] }));
    }
    expect(h.calls.every((c) => c.granted.join() === 'member')).toBe(true);
    h.calls.length = 0;
    await h.webhook('group_updated', {
      id: 'dirgroup_x',
      display_name: 'ADMINS',
      directory_id: 'dir_1',
      external_id: null,
    });
    expect(h.calls.map((c) => [c.user, c.granted, c.revoked])).toEqual([
      ['diruser_1', ['admin'], []],
      ['diruser_2', ['admin'], []],
      ['diruser_3', ['admin'], []],
    ]);
    // A change of case only matches the same rule: nothing changes.
    await h.webhook('group_updated', {
      id: 'dirgroup_x',
      display_name: 'Admins',
      directory_id: 'dir_1',
      external_id: null,
    });
    expect(h.calls).toHaveLength(3);
    await h.webhook('group_updated', {
      id: 'dirgroup_x',
      display_name: 'Former admins',
      directory_id: 'dir_1',
      external_id: null,
    });
    expect(h.calls.slice(3).map((c) => [c.user, c.granted, c.revoked])).toEqual([
      ['diruser_1', [], ['admin']],
      ['diruser_2', [], ['admin']],
      ['diruser_3', [], ['admin']],
    ]);
  });

  it("revokes a deleted group's grant from each member, and a deleted user's grants", async () => {
    const h = await withRules();
    await h.webhook('group_created', {
      id: 'dirgroup_eng',
      display_name: 'Eng',
      directory_id: 'dir_1',
      external_id: null,
    });
    await h.webhook('user_created', skUser('diruser_1', { groups: [{ id: 'dirgroup_eng', name: 'Eng' }] }));
    await h.webhook('user_created', skUser('diruser_2', { groups: [{ id: 'dirgroup_eng', name: 'Eng' }] }));
    h.calls.length = 0;
    await h.webhook('group_deleted', { id: 'dirgroup_eng', display_name: 'Eng', directory_id: 'dir_1', dp_id: null });
    expect(h.calls.map((c) => [c.user, c.revoked, c.roles])).toEqual([
      ['diruser_1', ['engineer'], ['member']],
      ['diruser_2', ['engineer'], ['member']],
    ]);
    await h.webhook('user_deleted', { id: 'diruser_1', email: 'diruser_1@example.com' });
    expect(h.calls.at(-1)).toMatchObject({ user: 'diruser_1', revoked: ['member'], roles: [] });
    expect(await h.engine.access?.getUserRoles(ORG_SK, 'diruser_1')).toEqual({ roles: [], managed: [], manual: [] });
  });

  it("keeps a deleted user's manual roles with the deactivated user, and forgets them with a hard delete", async () => {
    for (const hardDelete of [false, true]) {
      const store = memoryStore();
      const h = await start({ access: {}, store });
      await h.engine.access?.putRules(ORG_SK, rules, 0);
      const engine = hardDelete ? createEngine({ store, hardDelete, access: {} }) : h.engine;
      await h.webhook('user_created', skUser('diruser_1', { groups: [{ id: 'dirgroup_eng' }] }));
      await h.engine.access?.setManualRoles(ORG_SK, 'diruser_1', ['support']);
      // The deletion goes through an engine that hard-deletes, over the same store.
      const receiver = createScalekitWebhookReceiver({ engine, secret });
      const id = 'evt_delete_1';
      const body = JSON.stringify({
        spec_version: '1',
        id,
        type: 'organization.directory.user_deleted',
        occurred_at: new Date(Date.UTC(2025, 0, 2)).toISOString(),
        environment_id: 'env_1',
        organization_id: ORG_SK,
        object: 'DirectoryUser',
        data: { organization_id: ORG_SK, id: 'diruser_1', email: 'diruser_1@example.com' },
      });
      expect((await receiver.receive({ headers: signWebhook({ secret, id, payload: body }), body })).status).toBe(200);
      expect(await store.getUserAccess(ORG_SK, ['diruser_1'])).toEqual([
        hardDelete ? undefined : { directory: [], manual: ['support'] },
      ]);
    }
  });

  it('revokes on deactivation by default, and keeps the roles when the rules say so', async () => {
    const h = await withRules();
    await h.webhook('user_created', skUser('diruser_1', { groups: [{ id: 'dirgroup_eng' }] }));
    await h.webhook('user_updated', skUser('diruser_1', { active: false, groups: [{ id: 'dirgroup_eng' }] }));
    expect(h.calls.at(-1)).toMatchObject({ revoked: ['engineer', 'member'], roles: [] });
    await h.webhook('user_updated', skUser('diruser_1', { active: true, groups: [{ id: 'dirgroup_eng' }] }));
    expect(h.calls.at(-1)).toMatchObject({ granted: ['engineer', 'member'] });

    const kept = await start({ access: {} });
    await kept.engine.access?.putRules(ORG_SK, { ...rules, onDeactivate: 'keep' }, 0);
    await kept.webhook('user_created', skUser('diruser_1', { groups: [{ id: 'dirgroup_eng' }] }));
    await kept.webhook('user_updated', skUser('diruser_1', { active: false, groups: [{ id: 'dirgroup_eng' }] }));
    expect(kept.calls).toHaveLength(1);
  });

  it('never revokes a manual role, and a role both manual and granted survives losing the grant', async () => {
    const h = await withRules();
    await h.webhook('user_created', skUser('diruser_1', { groups: [{ id: 'dirgroup_eng' }] }));
    expect(await h.engine.access?.setManualRoles(ORG_SK, 'diruser_1', ['engineer', 'support'])).toEqual({
      roles: ['engineer', 'member', 'support'],
      managed: ['engineer', 'member'],
      manual: ['engineer', 'support'],
    });
    h.calls.length = 0;
    // Leaving the group ends the grant of `engineer`, which the user also holds by hand: no change the app sees.
    await h.webhook('user_updated', skUser('diruser_1'));
    expect(h.calls).toEqual([]);
    expect(await h.engine.access?.getUserRoles(ORG_SK, 'diruser_1')).toEqual({
      roles: ['engineer', 'member', 'support'],
      managed: ['member'],
      manual: ['engineer', 'support'],
    });
    // Deactivated: only the directory's own roles go; the handler is told which roles it manages.
    await h.webhook('user_updated', skUser('diruser_1', { active: false }));
    expect(h.calls).toEqual([
      expect.objectContaining({ granted: [], revoked: ['member'], roles: ['engineer', 'support'], managed: [] }),
    ]);
  });

  it('leaves nothing behind when accessChanged throws, and the redelivery calls it exactly once', async () => {
    let failing = true;
    const h = await start({ access: {}, fail: () => failing });
    await h.engine.access?.putRules(ORG_SK, rules, 0);
    expect(await h.webhook('user_created', skUser('diruser_1'), 1)).toBeGreaterThanOrEqual(500);
    expect(await h.engine.access?.getUserRoles(ORG_SK, 'diruser_1')).toEqual({ roles: [], managed: [], manual: [] });
    expect(await h.store.getUser(ORG_SK, 'diruser_1')).toBeUndefined();
    failing = false;
    expect(await h.webhook('user_created', skUser('diruser_1'), 1)).toBe(200);
    expect(await h.webhook('user_created', skUser('diruser_1'), 1)).toBe(200);
    expect(h.calls).toEqual([expect.objectContaining({ user: 'diruser_1', granted: ['member'] })]);
  });

  it("keeps organizations apart: one organization's rules grant nothing in another", async () => {
    const h = await withRules();
    const engine = h.engine;
    await engine.process(events.userUpserted(T0, directoryUser('u1', { groups: [{ id: 'dirgroup_eng' }] })));
    expect(h.calls).toEqual([]);
    expect(await engine.access?.getUserRoles(ORG, 'u1')).toEqual({ roles: [], managed: [], manual: [] });
  });

  it('takes rules from the app when it supplies a function, validating what it returns', async () => {
    const h = await start({ access: { rules: (org) => (org === ORG ? { defaultRoles: ['viewer'] } : undefined) } });
    await h.engine.process(events.userUpserted(T0, directoryUser('u1')));
    expect(h.calls).toEqual([expect.objectContaining({ user: 'u1', granted: ['viewer'] })]);
    const bad = await start({ access: { rules: () => ({ defaultRoles: ['__proto__'] }) } });
    await expect(bad.engine.process(events.userUpserted(T0, directoryUser('u1')))).rejects.toThrow(
      /access rules of organization "org_1" from options.access.rules are invalid: .*reserved/,
    );
    expect(await bad.store.getUser(ORG, 'u1')).toBeUndefined();
  });

  it('refuses an invalid rule set and a stale revision, writing nothing', async () => {
    const h = await withRules();
    await expect(
      h.engine.access?.putRules(ORG_SK, { rules: [{ match: 'group', value: 'x', grant: ['a'] }] } as never, 1),
    ).rejects.toThrow(/Invalid access rules/);
    expect(await h.engine.access?.putRules(ORG_SK, { defaultRoles: ['x'] }, 0)).toEqual({
      status: 'conflict',
      revision: 1,
    });
    expect((await h.engine.access?.getRules(ORG_SK))?.revision).toBe(1);
  });
});

describe('access over the SCIM server (real HTTP, memory store)', () => {
  const rules: AccessRulesInput = {
    defaultRoles: ['member'],
    rules: [
      { match: 'groupName', value: 'Admins', grant: ['admin'] },
      { match: 'role', value: 'auditor', source: 'scim', grant: ['audit'] },
      { match: 'role', value: 'auditor', source: 'scalekit', grant: ['never-from-scim'] },
    ],
  };

  it('grants through group PATCHes, renames, SCIM roles, deactivation and deletion, once per change', async () => {
    const h = await start({ access: {} });
    await h.engine.access?.putRules(ORG_SCIM, rules, 0);
    const alice = await h.scim('POST', '/Users', { userName: 'alice', roles: [{ value: 'auditor' }] });
    const bob = await h.scim('POST', '/Users', { userName: 'bob' });
    expect([alice.status, bob.status]).toEqual([201, 201]);
    expect(h.calls.map((c) => [c.user, c.granted])).toEqual([
      [alice.body.id, ['audit', 'member']],
      [bob.body.id, ['member']],
    ]);
    const group = await h.scim('POST', '/Groups', { displayName: 'Staff' });
    await h.scim(
      'PATCH',
      `/Groups/${group.body.id}`,
      patch({ op: 'add', path: 'members', value: [{ value: alice.body.id }, { value: bob.body.id }] }),
    );
    expect(h.calls).toHaveLength(2);
    await h.scim('PATCH', `/Groups/${group.body.id}`, patch({ op: 'replace', path: 'displayName', value: 'admins' }));
    expect(h.calls.slice(2).map((c) => [c.user, c.granted])).toEqual(
      [alice.body.id, bob.body.id].sort().map((id) => [id, ['admin']]),
    );
    await h.scim(
      'PATCH',
      `/Groups/${group.body.id}`,
      patch({ op: 'remove', path: `members[value eq "${bob.body.id}"]` }),
    );
    expect(h.calls.at(-1)).toMatchObject({ user: bob.body.id, revoked: ['admin'], roles: ['member'] });
    await h.scim('PATCH', `/Users/${alice.body.id}`, patch({ op: 'replace', path: 'active', value: false }));
    expect(h.calls.at(-1)).toMatchObject({ user: alice.body.id, revoked: ['admin', 'audit', 'member'], roles: [] });
    const before = h.calls.length;
    await h.scim('DELETE', `/Groups/${group.body.id}`);
    expect(h.calls.length).toBe(before);
    await h.scim('DELETE', `/Users/${bob.body.id}`);
    expect(h.calls.at(-1)).toMatchObject({ user: bob.body.id, revoked: ['member'], roles: [] });
  });

  it('revokes the grant of a deleted group from its members', async () => {
    const h = await start({ access: {} });
    await h.engine.access?.putRules(ORG_SCIM, rules, 0);
    const alice = await h.scim('POST', '/Users', { userName: 'alice' });
    const group = await h.scim('POST', '/Groups', { displayName: 'Admins', members: [{ value: alice.body.id }] });
    expect(group.status).toBe(201);
    expect(h.calls.at(-1)).toMatchObject({ user: alice.body.id, granted: ['admin'] });
    await h.scim('DELETE', `/Groups/${group.body.id}`);
    expect(h.calls.at(-1)).toMatchObject({ user: alice.body.id, revoked: ['admin'], roles: ['member'] });
  });
});

describe('access off', () => {
  it('reads no access state and calls nothing when neither access nor accessChanged is configured', async () => {
    const touched: string[] = [];
    const store = memoryStore();
    const watched = new Proxy(store, {
      get(target, key, receiver) {
        const value = Reflect.get(target, key, receiver);
        if (typeof key !== 'string' || !/Access/.test(key) || typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          touched.push(key);
          return value.apply(target, args);
        };
      },
    });
    const engine = createEngine({ store: watched });
    expect(engine.access).toBeUndefined();
    await engine.process(events.userUpserted(T0, directoryUser('u1', { groups: [{ id: 'g1' }] })));
    await engine.process(events.groupDeleted(T0 + 1n, { id: 'g1', organizationId: ORG, displayName: 'g1' }));
    await engine.process(events.userDeleted(T0 + 2n, 'u1'));
    expect(touched).toEqual([]);
  });
});
