/**
 * The examples' contract (DESIGN.md, "Examples and their contract"), as one suite every
 * `examples/<framework>` runs against its app over real HTTP, so switching frameworks brings no surprise.
 */
import { createEventFactory, deliverWebhook, generateWebhookSecret } from '@org/scim-testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

export interface ExampleServer {
  url: string;
  close(): void | Promise<void>;
}

export function runExampleContractSuite(
  name: string,
  start: (config: { webhookSecret: string }) => Promise<ExampleServer>,
): void {
  describe(`example contract: ${name}`, () => {
    const secret = generateWebhookSecret();
    const f = createEventFactory({ organizationId: 'org_example' });
    let server: ExampleServer;
    let base = '';
    const webhook = (event: unknown) => deliverWebhook(`${base}/webhooks/scalekit`, event, { secret });

    beforeAll(async () => {
      server = await start({ webhookSecret: secret });
      base = server.url;
    });
    afterAll(async () => {
      await server?.close();
    });

    it('writes webhook users into the app table that GET /api/users serves', async () => {
      await webhook(f.groupCreated({ id: 'dirgroup_1', display_name: 'Eng' }));
      const created = f.userCreated({
        id: 'diruser_1',
        email: 'ada@example.com',
        name: 'Ada Łovelace 🚀',
        groups: [{ id: 'dirgroup_1', name: 'Eng' }],
        roles: [{ role_name: 'admin' }],
      });
      expect((await webhook(created)).status).toBe(200);

      const users = await (await fetch(`${base}/api/users?organization_id=org_example`)).json();
      expect(users).toEqual([
        expect.objectContaining({
          id: 'diruser_1',
          email: 'ada@example.com',
          name: 'Ada Łovelace 🚀',
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
      await webhook(f.userCreated({ id: 'diruser_2', email: 'b@example.com' }));
      await webhook(f.userDeleted({ id: 'diruser_2' }));
      const users = (await (await fetch(`${base}/api/users?organization_id=org_example`)).json()) as {
        id: string;
        active: boolean;
      }[];
      expect(users.find((u) => u.id === 'diruser_2')).toMatchObject({ active: false });
    });

    it('refuses a forged webhook with the JSON error', async () => {
      const forged = await deliverWebhook(`${base}/webhooks/scalekit`, f.userCreated({ id: 'diruser_3' }), {
        secret: generateWebhookSecret(),
      });
      expect(forged).toMatchObject({ status: 401, body: { error: { code: 'invalid_signature' } } });
    });

    it('asks for organization_id with a JSON error', async () => {
      for (const path of ['/api/users', '/api/groups']) {
        const response = await fetch(`${base}${path}`);
        expect(response.status).toBe(400);
        expect(await response.json()).toMatchObject({ error: { code: 'missing_organization_id' } });
      }
    });
  });
}
