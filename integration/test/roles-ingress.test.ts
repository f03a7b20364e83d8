/**
 * App roles from the directory are the same whichever way the directory arrives (issue 16): the
 * fake Scalekit's webhooks, signed and POSTed over real HTTP to a receiver, and a reconciliation
 * through the real `@scalekit-sdk/node` against the same fake, each into an engine of its own with
 * the same rules, end with the same roles for every user (as `accessChanged` told each app, and as
 * the store keeps them): memberships, Scalekit roles, a group renamed into a name rule, a group
 * removed, a user deactivated. A reconciliation of an unchanged directory calls nothing.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  type AccessRulesInput,
  createEngine,
  createReconciler,
  createScalekitWebhookReceiver,
  memoryStore,
  type ProvisioningEngine,
  receiveNodeRequest,
  scalekitDirectorySource,
  writeNodeResponse,
} from '@org/scim-core';
import { startFakeScalekit } from '@org/scim-testing/fake-scalekit';
import { ScalekitClient } from '@scalekit-sdk/node';
import { expect, it } from 'vitest';

const RULES: AccessRulesInput = {
  defaultRoles: ['member'],
  rules: [
    { match: 'groupId', value: 'dirgroup_eng', grant: ['engineer'] },
    { match: 'groupName', value: 'admins', grant: ['admin'] },
    { match: 'role', value: 'billing_admin', source: 'scalekit', grant: ['billing'] },
  ],
};

/** An engine with the rules, whose app keeps each user's roles as accessChanged sets them. */
async function app(organizationId: string) {
  const roles = new Map<string, readonly string[]>();
  let calls = 0;
  const engine: ProvisioningEngine = createEngine({
    store: memoryStore(),
    handlers: {
      accessChanged: ({ user, roles: now }) => {
        calls += 1;
        roles.set(user.id, now);
      },
    },
  });
  await engine.access?.putRules(organizationId, RULES, 0);
  return { engine, roles, calls: () => calls };
}

it('ends with the same roles from webhooks over HTTP as from a reconciliation, for the same directory', async () => {
  const fake = await startFakeScalekit();
  const organizationId = fake.addOrganization({ displayName: 'Acme' }).id;
  fake.addDirectory(organizationId);
  const viaWebhooks = await app(organizationId);
  const viaReconcile = await app(organizationId);
  const receiver = createScalekitWebhookReceiver({ engine: viaWebhooks.engine, secret: fake.webhookSecret });
  const http = createServer(
    (request, response) => void receiveNodeRequest(receiver, { request }).then((a) => writeNodeResponse(response, a)),
  );
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(http.address() as AddressInfo).port}/webhooks/scalekit`;
  const reconciler = createReconciler({
    engine: viaReconcile.engine,
    source: scalekitDirectorySource(new ScalekitClient(fake.url, fake.clientId, fake.clientSecret)),
    pageSize: 50,
    retry: { baseDelayMs: 5, maxDelayMs: 20 },
  });
  const deliver = async () => {
    const reports = await fake.webhooks.deliver(url);
    expect(reports.filter((r) => r.status !== 200)).toEqual([]);
  };
  const user = (i: number) => `diruser_${String(i).padStart(3, '0')}`;
  try {
    fake.upsertGroup(organizationId, { id: 'dirgroup_eng', displayName: 'Engineering' });
    fake.upsertGroup(organizationId, { id: 'dirgroup_staff', displayName: 'Staff' });
    fake.upsertGroup(organizationId, { id: 'dirgroup_temp', displayName: 'Temp' });
    for (let i = 0; i < 30; i++) {
      fake.upsertUser(organizationId, {
        id: user(i),
        email: `u${i}@acme.test`,
        roles: i % 7 === 0 ? ['billing_admin'] : [],
        groups: [
          ...(i % 2 ? ['dirgroup_eng'] : []),
          ...(i % 3 ? [] : ['dirgroup_staff']),
          ...(i % 5 ? [] : ['dirgroup_temp']),
        ],
      });
    }
    await deliver();
    await reconciler.reconcile(organizationId);
    expect(Object.fromEntries(viaWebhooks.roles)).toEqual(Object.fromEntries(viaReconcile.roles));

    // Changes: a rename into the name rule, a group removed, Scalekit roles moved, users deactivated.
    fake.upsertGroup(organizationId, { id: 'dirgroup_staff', displayName: 'Admins' });
    fake.removeGroup(organizationId, 'dirgroup_temp');
    fake.upsertUser(organizationId, { id: user(7), email: 'u7@acme.test', roles: [], groups: ['dirgroup_eng'] });
    fake.upsertUser(organizationId, { id: user(8), email: 'u8@acme.test', roles: ['billing_admin'], groups: [] });
    fake.upsertUser(organizationId, { id: user(9), email: 'u9@acme.test', active: false, groups: ['dirgroup_eng'] });
    await deliver();
    await reconciler.reconcile(organizationId);

    const final = Object.fromEntries(viaWebhooks.roles);
    expect(final).toEqual(Object.fromEntries(viaReconcile.roles));
    expect(final[user(3)]).toEqual(['admin', 'engineer', 'member']);
    expect(final[user(8)]).toEqual(['billing', 'member']);
    expect(final[user(9)]).toEqual([]);
    for (let i = 0; i < 30; i++) {
      expect(await viaWebhooks.engine.access?.getUserRoles(organizationId, user(i))).toEqual(
        await viaReconcile.engine.access?.getUserRoles(organizationId, user(i)),
      );
    }
    // A second reconciliation of an unchanged directory changes nobody's roles.
    const before = viaReconcile.calls();
    await reconciler.reconcile(organizationId);
    expect(viaReconcile.calls()).toBe(before);
  } finally {
    await new Promise<void>((resolve) => http.close(() => resolve()));
    await fake.close();
  }
});
