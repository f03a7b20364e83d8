import { createScalekitWebhookReceiver } from '@org/scim-core';
import { scalekitWebhook, scimRoutes } from '@org/scim-hono';
import { createScim, createSync, type ExampleConfig, openProvisioning, runSync } from 'example-shared';
import { Hono } from 'hono';

/** The app, on the store `config.database` picks (PostgreSQL with `DATABASE_URL`, else in memory). */
export async function createApp(config: Pick<ExampleConfig, 'webhookSecret' | 'scalekitApi' | 'database' | 'scim'>) {
  const { users, engine, description, close } = await openProvisioning(config);
  const webhooks = createScalekitWebhookReceiver({ engine, secret: config.webhookSecret });
  const sync = createSync(engine, config);
  // SCIM 2.0 on the same engine: SCIM users reach the same handlers (503 until configured).
  const scim = createScim(engine, config);

  const app = new Hono();
  app.post('/webhooks/scalekit', scalekitWebhook(webhooks));
  app.all('/scim/v2/*', scimRoutes(scim));

  const requireOrganization = (organizationId: string | undefined) =>
    organizationId
      ? undefined
      : { error: { code: 'missing_organization_id', message: 'Add ?organization_id=org_… to the URL.' } };

  app.get('/api/users', async (c) => {
    const organizationId = c.req.query('organization_id');
    const problem = requireOrganization(organizationId);
    return problem ? c.json(problem, 400) : c.json(await users.listUsers(organizationId as string));
  });
  app.get('/api/groups', async (c) => {
    const organizationId = c.req.query('organization_id');
    const problem = requireOrganization(organizationId);
    return problem ? c.json(problem, 400) : c.json(await users.listGroups(organizationId as string));
  });

  // Reconciliation on demand. A real app lets only its admins (or an internal job) call this.
  app.post('/api/sync', async (c) => {
    const { status, body } = await runSync(sync, new URL(c.req.url).searchParams);
    return c.json(body, status);
  });

  /** `close()` ends the database pool, if any: call it when the server stops. */
  return { app, users, engine, description, close };
}
