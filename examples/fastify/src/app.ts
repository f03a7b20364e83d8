import { createScalekitWebhookReceiver } from '@org/scim-core';
import { scalekitWebhookPlugin, scimPlugin } from '@org/scim-fastify';
import { createScim, createSync, type ExampleConfig, openProvisioning, runSync } from 'example-shared';
import Fastify, { type FastifyReply } from 'fastify';

/**
 * The app, on the store `config.database` picks (PostgreSQL with `DATABASE_URL`, else in memory).
 * `app.close()` ends the database pool too.
 */
export async function createApp(config: Pick<ExampleConfig, 'webhookSecret' | 'scalekitApi' | 'database' | 'scim'>) {
  const { users, engine, description, close } = await openProvisioning(config);
  const receiver = createScalekitWebhookReceiver({ engine, secret: config.webhookSecret });
  const sync = createSync(engine, config);
  // SCIM 2.0 on the same engine: SCIM users reach the same handlers (503 until configured).
  const scim = createScim(engine, config);

  const app = Fastify();
  app.addHook('onClose', async () => {
    await close();
  });
  // Encapsulated: the plugin's raw-body parser applies to the webhook route only.
  await app.register(scalekitWebhookPlugin, { receiver });
  // Encapsulated too: every method on /scim/v2 and /scim/v2/*.
  await app.register(scimPlugin, { server: scim });

  const organizationOf = (query: unknown, reply: FastifyReply): string | undefined => {
    const organizationId = (query as { organization_id?: unknown }).organization_id;
    if (typeof organizationId === 'string' && organizationId) return organizationId;
    void reply
      .code(400)
      .send({ error: { code: 'missing_organization_id', message: 'Add ?organization_id=org_… to the URL.' } });
    return undefined;
  };

  app.get('/api/users', async (request, reply) => {
    const organizationId = organizationOf(request.query, reply);
    return organizationId ? await users.listUsers(organizationId) : reply;
  });
  app.get('/api/groups', async (request, reply) => {
    const organizationId = organizationOf(request.query, reply);
    return organizationId ? await users.listGroups(organizationId) : reply;
  });

  // Reconciliation on demand. A real app lets only its admins (or an internal job) call this.
  app.post('/api/sync', async (request, reply) => {
    const { status, body } = await runSync(sync, new URL(request.url, 'http://localhost').searchParams);
    return reply.code(status).send(body);
  });

  return { app, users, engine, description };
}
