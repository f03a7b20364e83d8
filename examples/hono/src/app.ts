import { createScalekitWebhookReceiver, type ProvisioningStore } from '@org/scim-core';
import { scalekitWebhook } from '@org/scim-hono';
import { createProvisioning, createSync, createUserService, type ExampleConfig, runSync } from 'example-shared';
import { Hono } from 'hono';

export function createApp(config: Pick<ExampleConfig, 'webhookSecret' | 'scalekitApi'>, store?: ProvisioningStore) {
  const users = createUserService();
  const engine = createProvisioning(users, store);
  const webhooks = createScalekitWebhookReceiver({ engine, secret: config.webhookSecret });
  const sync = createSync(engine, config);

  const app = new Hono();
  app.post('/webhooks/scalekit', scalekitWebhook(webhooks));

  const requireOrganization = (organizationId: string | undefined) =>
    organizationId
      ? undefined
      : { error: { code: 'missing_organization_id', message: 'Add ?organization_id=org_… to the URL.' } };

  app.get('/api/users', (c) => {
    const organizationId = c.req.query('organization_id');
    const problem = requireOrganization(organizationId);
    return problem ? c.json(problem, 400) : c.json(users.listUsers(organizationId as string));
  });
  app.get('/api/groups', (c) => {
    const organizationId = c.req.query('organization_id');
    const problem = requireOrganization(organizationId);
    return problem ? c.json(problem, 400) : c.json(users.listGroups(organizationId as string));
  });

  // Reconciliation on demand. A real app lets only its admins (or an internal job) call this.
  app.post('/api/sync', async (c) => {
    const { status, body } = await runSync(sync, new URL(c.req.url).searchParams);
    return c.json(body, status);
  });

  return { app, users, engine };
}
