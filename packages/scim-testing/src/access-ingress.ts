/**
 * The app-roles suite (issue 16): the same directory story told through each ingress, over real
 * HTTP, on the store under test, must end in the same roles and tell `accessChanged` the same
 * changes.
 *
 * ```ts
 * import { runAccessIngressSuite } from '@org/scim-testing/conformance';
 * runAccessIngressSuite('my store', { create: () => myStore(pool) });
 * ```
 *
 * The ingress paths: Scalekit webhooks (the fake Scalekit's signed events POSTed to a receiver),
 * reconciliation (the real `@scalekit-sdk/node` client against the fake Scalekit) and the SCIM
 * server (an identity provider's requests). The story: users arrive, a membership is added and
 * one removed, directory roles change, a group matched by name is renamed, then deleted, manual
 * roles survive losing a grant, users are deactivated (roles revoked, or kept when the rules say
 * so), the rules change and the organization is re-evaluated (dry run, guard, apply), a user is
 * deleted. Each ingress works in an organization of its own, so one store serves the suite.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AccessChanged,
  type AccessRulesInput,
  createEngine,
  createReconciler,
  createScalekitWebhookReceiver,
  createScimServer,
  generateScimToken,
  handleScimNodeRequest,
  PATCH_OP_SCHEMA,
  type ProvisioningEngine,
  type ProvisioningStore,
  receiveNodeRequest,
  scalekitDirectorySource,
  scimTokenAuthenticator,
  writeNodeResponse,
} from '@org/scim-core';
import { ScalekitClient } from '@scalekit-sdk/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeScalekit, startFakeScalekit } from './fake-scalekit/index.js';

export interface AccessIngressOptions<S extends ProvisioningStore = ProvisioningStore> {
  /** Returns the store under test; called once for the suite. */
  create: () => S | Promise<S>;
  /** Closes it after the suite (drop the schema, end the pool). */
  destroy?: (store: S) => void | Promise<void>;
}

/** A user's directory state: the groups it is in (by the story's names), its directory roles, whether active. */
interface UserState {
  readonly groups: readonly string[];
  readonly roles?: readonly string[];
  readonly active?: boolean;
}

/** One ingress, as the story drives it: named groups and users, and a `sync` that makes the engine see the directory. */
interface Directory {
  readonly name: string;
  readonly organizationId: string;
  readonly engine: ProvisioningEngine;
  groupId(name: string): string;
  userId(name: string): string;
  /** The story's name of a user id (kept after the user is deleted). */
  nameOf(id: string): string | undefined;
  /** Creates the group, or renames it. */
  group(name: string, displayName: string): Promise<void>;
  removeGroup(name: string): Promise<void>;
  /** Creates the user, or sets its whole state. */
  user(name: string, state: UserState): Promise<void>;
  removeUser(name: string): Promise<void>;
  /** Delivers what changed (webhooks), reconciles, or nothing (the SCIM server applies each request at once). */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The app's side: each user's roles as `accessChanged` set them, and every call, checked against the last. */
class App {
  readonly roles = new Map<string, readonly string[]>();
  readonly calls: { user: string; granted: readonly string[]; revoked: readonly string[] }[] = [];
  readonly problems: string[] = [];

  accessChanged = (change: AccessChanged): void => {
    const before = new Set(this.roles.get(change.user.id) ?? []);
    const expected = new Set(before);
    for (const role of change.granted) {
      if (before.has(role)) this.problems.push(`${change.user.id} granted ${role}, which it held`);
      expected.add(role);
    }
    for (const role of change.revoked) {
      if (!before.has(role)) this.problems.push(`${change.user.id} revoked ${role}, which it did not hold`);
      expected.delete(role);
    }
    if (change.granted.length + change.revoked.length === 0) this.problems.push(`${change.user.id}: an empty change`);
    if ([...expected].sort().join() !== [...change.roles].join()) {
      this.problems.push(`${change.user.id}: roles ${change.roles.join()} after ${[...before].join()} ± the change`);
    }
    this.calls.push({ user: change.user.id, granted: change.granted, revoked: change.revoked });
    this.roles.set(change.user.id, change.roles);
  };
}

async function listen(handler: Parameters<typeof createServer>[1]): Promise<{ server: Server; origin: string }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()));

/** The fake Scalekit's directory, seen through webhooks or through a reconciliation. */
async function scalekitDirectory(
  store: ProvisioningStore,
  app: App,
  via: 'webhooks' | 'reconciliation',
): Promise<Directory> {
  const fake: FakeScalekit = await startFakeScalekit();
  const organizationId = fake.addOrganization({ displayName: 'Acme' }).id;
  fake.addDirectory(organizationId);
  const engine = createEngine({ store, handlers: { accessChanged: app.accessChanged } });
  const receiver = createScalekitWebhookReceiver({ engine, secret: fake.webhookSecret });
  const { server, origin } = await listen(
    (request, response) => void receiveNodeRequest(receiver, { request }).then((a) => writeNodeResponse(response, a)),
  );
  const reconciler = createReconciler({
    engine,
    source: scalekitDirectorySource(new ScalekitClient(fake.url, fake.clientId, fake.clientSecret)),
    retry: { baseDelayMs: 5, maxDelayMs: 20 },
    // The story deletes one of three groups and one of three users: more than the default share.
    guard: { maxShare: 1, maxCount: 100 },
  });
  const groupId = (name: string) => `dirgroup_${name}`;
  const userId = (name: string) => `diruser_${name}`;
  return {
    name: via,
    organizationId,
    engine,
    groupId,
    userId,
    nameOf: (id) => (id.startsWith('diruser_') ? id.slice('diruser_'.length) : undefined),
    async group(name, displayName) {
      fake.upsertGroup(organizationId, { id: groupId(name), displayName });
    },
    async removeGroup(name) {
      fake.removeGroup(organizationId, groupId(name));
    },
    async user(name, state) {
      fake.upsertUser(organizationId, {
        id: userId(name),
        email: `${name}@acme.test`,
        groups: state.groups.map(groupId),
        roles: [...(state.roles ?? [])],
        active: state.active ?? true,
      });
    },
    async removeUser(name) {
      fake.removeUser(organizationId, userId(name));
    },
    async sync() {
      if (via === 'webhooks') {
        const reports = await fake.webhooks.deliver(`${origin}/webhooks/scalekit`);
        expect(reports.filter((report) => report.status !== 200)).toEqual([]);
      } else {
        fake.webhooks.drop();
        expect(await reconciler.reconcile(organizationId)).toMatchObject({ status: 'completed' });
      }
    },
    async close() {
      await closeServer(server);
      await fake.close();
    },
  };
}

/** An identity provider talking to the SCIM server: ids are the server's, memberships are group PATCHes. */
async function scimDirectory(store: ProvisioningStore, app: App): Promise<Directory> {
  const organizationId = `org_scim_${randomUUID().slice(0, 8)}`;
  const engine = createEngine({ store, handlers: { accessChanged: app.accessChanged } });
  const token = generateScimToken();
  const scimServer = createScimServer({
    engine,
    authenticator: scimTokenAuthenticator([{ organizationId, tokenHash: token.tokenHash }]),
  });
  const { server, origin } = await listen(
    (request, response) => void handleScimNodeRequest(scimServer, { request, response }),
  );
  const scim = async (method: string, path: string, body?: unknown): Promise<{ id?: string } | undefined> => {
    const response = await fetch(`${origin}/scim/v2${path}`, {
      method,
      headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/scim+json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    expect(response.status, `${method} ${path}: ${text}`).toBeLessThan(300);
    return text ? JSON.parse(text) : undefined;
  };
  const patch = (path: string, ...Operations: unknown[]) =>
    scim('PATCH', path, { schemas: [PATCH_OP_SCHEMA], Operations });
  const groups = new Map<string, string>();
  const users = new Map<string, { id: string; state: UserState }>();
  const names = new Map<string, string>();
  const named = <T>(map: Map<string, T>, name: string): T => {
    const value = map.get(name);
    if (value === undefined) throw new Error(`the story names ${name} before creating it`);
    return value;
  };
  const groupId = (name: string) => named(groups, name);
  const userId = (name: string) => named(users, name).id;
  const member = (group: string, id: string, op: 'add' | 'remove') =>
    op === 'add'
      ? patch(`/Groups/${groupId(group)}`, { op, path: 'members', value: [{ value: id }] })
      : patch(`/Groups/${groupId(group)}`, { op, path: `members[value eq "${id}"]` });
  return {
    name: 'scim',
    organizationId,
    engine,
    groupId,
    userId,
    nameOf: (id) => names.get(id),
    async group(name, displayName) {
      const id = groups.get(name);
      if (id) await patch(`/Groups/${id}`, { op: 'replace', path: 'displayName', value: displayName });
      else groups.set(name, (await scim('POST', '/Groups', { displayName }))?.id as string);
    },
    async removeGroup(name) {
      await scim('DELETE', `/Groups/${groupId(name)}`);
      for (const entry of users.values()) {
        entry.state = { ...entry.state, groups: entry.state.groups.filter((g) => g !== name) };
      }
      groups.delete(name);
    },
    async user(name, state) {
      const roles = (state.roles ?? []).map((value) => ({ value }));
      const active = state.active ?? true;
      let entry = users.get(name);
      if (!entry) {
        const created = await scim('POST', '/Users', { userName: name, active, ...(roles.length > 0 && { roles }) });
        entry = { id: created?.id as string, state: { groups: [] } };
        users.set(name, entry);
        names.set(entry.id, name);
      } else {
        const before = entry.state;
        if ((before.roles ?? []).join() !== (state.roles ?? []).join()) {
          await patch(`/Users/${entry.id}`, { op: 'replace', path: 'roles', value: roles });
        }
        if ((before.active ?? true) !== active) {
          await patch(`/Users/${entry.id}`, { op: 'replace', path: 'active', value: active });
        }
      }
      for (const group of state.groups) if (!entry.state.groups.includes(group)) await member(group, entry.id, 'add');
      for (const group of entry.state.groups)
        if (!state.groups.includes(group)) await member(group, entry.id, 'remove');
      entry.state = state;
    },
    async removeUser(name) {
      await scim('DELETE', `/Users/${userId(name)}`);
      users.delete(name);
    },
    async sync() {},
    async close() {
      await closeServer(server);
    },
  };
}

const INGRESS = ['webhooks', 'reconciliation', 'scim'] as const;

/** Registers the suite: one test per ingress path, each telling the whole story. */
export function runAccessIngressSuite<S extends ProvisioningStore>(
  name: string,
  options: AccessIngressOptions<S>,
): void {
  describe(`app roles over every ingress: ${name}`, () => {
    let store: S;
    beforeAll(async () => {
      store = await options.create();
    });
    afterAll(async () => {
      if (store) await options.destroy?.(store);
    });

    for (const via of INGRESS) {
      it(`grants and revokes what the directory says, once per change, through ${via}`, async () => {
        const app = new App();
        const d = via === 'scim' ? await scimDirectory(store, app) : await scalekitDirectory(store, app, via);
        try {
          await story(d, app);
        } finally {
          await d.close();
        }
      });
    }
  });
}

/** Runs `step`, syncs, and answers the calls it caused, by story name: `[user, granted, revoked]`. */
async function calls(d: Directory, app: App, step: () => Promise<void>) {
  const from = app.calls.length;
  await step();
  await d.sync();
  expect(app.problems).toEqual([]);
  return app.calls
    .slice(from)
    .map((c) => [d.nameOf(c.user) ?? c.user, c.granted.join(), c.revoked.join()])
    .sort((a, b) => String(a[0]).localeCompare(String(b[0])));
}

async function story(d: Directory, app: App): Promise<void> {
  const org = d.organizationId;
  const access = d.engine.access;
  if (!access) throw new Error('access is on when accessChanged is given');
  const roles = async (name: string) => {
    const held = await access.getUserRoles(org, d.userId(name));
    expect(held.roles, `${d.name}: ${name}'s roles in the store and in the app`).toEqual(
      app.roles.get(d.userId(name)) ?? [],
    );
    return held.roles.join();
  };

  await calls(d, app, async () => {
    await d.group('eng', 'Engineering');
    await d.group('staff', 'Staff');
    await d.group('temp', 'Temp');
  });
  const rules: AccessRulesInput = {
    defaultRoles: ['member'],
    rules: [
      { match: 'groupId', value: d.groupId('eng'), grant: ['engineer'] },
      { match: 'groupName', value: 'admins', grant: ['admin'] },
      { match: 'role', value: 'billing_admin', grant: ['billing'] },
    ],
  };
  expect(await access.putRules(org, rules, 0)).toEqual({ status: 'saved', revision: 1 });

  // Users arrive (the SCIM server sees each membership as its own request: what is compared is the end state).
  await calls(d, app, async () => {
    await d.user('ada', { groups: ['eng', 'staff'] });
    await d.user('bob', { groups: ['staff', 'temp'], roles: ['billing_admin'] });
    await d.user('cy', { groups: [] });
  });
  expect([await roles('ada'), await roles('bob'), await roles('cy')]).toEqual([
    'engineer,member',
    'billing,member',
    'member',
  ]);

  // A membership added, one removed: one call each.
  expect(await calls(d, app, () => d.user('cy', { groups: ['eng'] }))).toEqual([['cy', 'engineer', '']]);
  expect(await calls(d, app, () => d.user('ada', { groups: ['staff'] }))).toEqual([['ada', '', 'engineer']]);

  // Directory roles (Scalekit's roles[].role_name, SCIM's roles[].value) change.
  expect(
    await calls(d, app, async () => {
      await d.user('bob', { groups: ['staff', 'temp'] });
      await d.user('cy', { groups: ['eng'], roles: ['billing_admin'] });
    }),
  ).toEqual([
    ['bob', '', 'billing'],
    ['cy', 'billing', ''],
  ]);

  // A group renamed into the name rule: every member gains, once; a change of case moves nothing.
  expect(await calls(d, app, () => d.group('staff', 'Admins'))).toEqual([
    ['ada', 'admin', ''],
    ['bob', 'admin', ''],
  ]);
  expect(await calls(d, app, () => d.group('staff', 'ADMINS'))).toEqual([]);

  // A group deleted: its grant leaves each member, once (a group no rule names changes nothing).
  expect(await calls(d, app, () => d.removeGroup('temp'))).toEqual([]);
  expect(await calls(d, app, () => d.removeGroup('staff'))).toEqual([
    ['ada', '', 'admin'],
    ['bob', '', 'admin'],
  ]);

  // Manual roles: never revoked, and a role both manual and granted survives losing the grant.
  expect(await access.setManualRoles(org, d.userId('cy'), ['engineer', 'support'])).toEqual({
    roles: ['billing', 'engineer', 'member', 'support'],
    managed: ['billing', 'engineer', 'member'],
    manual: ['engineer', 'support'],
  });
  app.roles.set(d.userId('cy'), ['billing', 'engineer', 'member', 'support']);
  expect(await calls(d, app, () => d.user('cy', { groups: [], roles: ['billing_admin'] }))).toEqual([]);
  expect(await access.getUserRoles(org, d.userId('cy'))).toEqual({
    roles: ['billing', 'engineer', 'member', 'support'],
    managed: ['billing', 'member'],
    manual: ['engineer', 'support'],
  });

  // Deactivated: the directory's roles are revoked, the manual ones stay.
  expect(await calls(d, app, () => d.user('cy', { groups: [], roles: ['billing_admin'], active: false }))).toEqual([
    ['cy', '', 'billing,member'],
  ]);
  expect(await roles('cy')).toBe('engineer,support');
  expect(await calls(d, app, () => d.user('cy', { groups: [], roles: ['billing_admin'] }))).toEqual([
    ['cy', 'billing,member', ''],
  ]);
  // …or kept, when the rules say so.
  expect(await access.putRules(org, { ...rules, onDeactivate: 'keep' }, 1)).toEqual({ status: 'saved', revision: 2 });
  expect(await calls(d, app, () => d.user('bob', { groups: [], active: false }))).toEqual([]);
  expect(await roles('bob')).toBe('member');

  // The rules change: a dry run plans, the guard refuses to revoke from two of three, force applies once.
  const moved: AccessRulesInput = {
    rules: [{ match: 'groupId', value: d.groupId('eng'), grant: ['engineer'] }],
    onDeactivate: 'keep',
  };
  expect(await access.putRules(org, moved, 2)).toEqual({ status: 'saved', revision: 3 });
  const before = app.calls.length;
  const plan = await access.reevaluate(org, { dryRun: true });
  expect(plan).toMatchObject({ status: 'planned', scanned: 3, changed: 3, gaining: 0, losing: 3 });
  expect(plan.changes.map((c) => [c.userId, c.revoked.join()])).toEqual(
    [
      [d.userId('ada'), 'member'],
      [d.userId('bob'), 'member'],
      [d.userId('cy'), 'billing,member'],
    ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  );
  expect(await access.reevaluate(org, { guard: { maxShare: 0.5 } })).toMatchObject({ status: 'refused', losing: 3 });
  expect(app.calls.length).toBe(before);
  expect(await roles('ada')).toBe('member');
  expect(await access.reevaluate(org, { force: true })).toMatchObject({ status: 'applied', changed: 3 });
  expect(app.problems).toEqual([]);
  expect(
    app.calls
      .slice(before)
      .map((c) => c.user)
      .sort(),
  ).toEqual([d.userId('ada'), d.userId('bob'), d.userId('cy')].sort());
  expect([await roles('ada'), await roles('bob'), await roles('cy')]).toEqual(['', '', 'engineer,support']);
  expect(await access.reevaluate(org)).toMatchObject({ status: 'applied', changed: 0 });
  expect(app.calls.length).toBe(before + 3);

  // The directory again after the re-evaluation: nothing moves (a reconciliation finds no difference).
  expect(await calls(d, app, async () => {})).toEqual([]);

  // A user deleted: no directory grant left; the roles the app gave by hand are kept with the
  // deactivated user (the default: the app keeps its user), for the app to show or clear.
  await calls(d, app, () => d.user('ada', { groups: ['eng'] }));
  expect(await roles('ada')).toBe('engineer');
  await access.setManualRoles(org, d.userId('ada'), ['support']);
  app.roles.set(d.userId('ada'), ['engineer', 'support']);
  const ada = d.userId('ada');
  expect(await calls(d, app, () => d.removeUser('ada'))).toEqual([['ada', '', 'engineer']]);
  expect(await access.getUserRoles(org, ada)).toEqual({ roles: ['support'], managed: [], manual: ['support'] });
}
