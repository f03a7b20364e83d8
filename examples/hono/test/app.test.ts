import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createEventFactory, deliverWebhook, generateWebhookSecret } from '@org/scim-testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { ConfigError, loadConfig } from '../src/config.js';

const secret = generateWebhookSecret();
const f = createEventFactory({ organizationId: 'org_example' });
let base = '';
let close = () => {};

beforeAll(async () => {
  const { app } = createApp({ webhookSecret: secret });
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  await new Promise((resolve) => server.once('listening', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  close = () => server.close();
});
afterAll(() => close());

describe('examples/hono follows the example contract', () => {
  it('writes webhook users into the app table that GET /api/users serves', async () => {
    await deliverWebhook(`${base}/webhooks/scalekit`, f.groupCreated({ id: 'dirgroup_1', display_name: 'Eng' }), {
      secret,
    });
    const created = f.userCreated({
      id: 'diruser_1',
      email: 'ada@example.com',
      groups: [{ id: 'dirgroup_1', name: 'Eng' }],
      roles: [{ role_name: 'admin' }],
    });
    expect((await deliverWebhook(`${base}/webhooks/scalekit`, created, { secret })).status).toBe(200);

    const users = await (await fetch(`${base}/api/users?organization_id=org_example`)).json();
    expect(users).toEqual([
      expect.objectContaining({
        id: 'diruser_1',
        email: 'ada@example.com',
        active: true,
        groups: ['dirgroup_1'],
        roles: ['admin'],
      }),
    ]);
    const groups = await (await fetch(`${base}/api/groups?organization_id=org_example`)).json();
    expect(groups).toEqual([expect.objectContaining({ id: 'dirgroup_1', name: 'Eng' })]);
    expect(await (await fetch(`${base}/api/users?organization_id=org_other`)).json()).toEqual([]);
  });

  it('deactivates a deleted user instead of removing it', async () => {
    await deliverWebhook(`${base}/webhooks/scalekit`, f.userCreated({ id: 'diruser_2', email: 'b@example.com' }), {
      secret,
    });
    await deliverWebhook(`${base}/webhooks/scalekit`, f.userDeleted({ id: 'diruser_2' }), { secret });
    const users = (await (await fetch(`${base}/api/users?organization_id=org_example`)).json()) as {
      id: string;
      active: boolean;
    }[];
    expect(users.find((u) => u.id === 'diruser_2')).toMatchObject({ active: false });
  });

  it('asks for organization_id with a JSON error', async () => {
    const response = await fetch(`${base}/api/users`);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'missing_organization_id' } });
  });

  it('refuses to start without SCALEKIT_WEBHOOK_SECRET, saying where to find it', () => {
    expect(() => loadConfig({})).toThrow(ConfigError);
    expect(() => loadConfig({})).toThrow(/Scalekit dashboard/);
    expect(loadConfig({ SCALEKIT_WEBHOOK_SECRET: secret, PORT: '4000' })).toMatchObject({ port: 4000 });
  });
});
