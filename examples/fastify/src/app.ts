import { createScalekitWebhookReceiver } from '@org/scim-core';
import { adminPortalLink, scalekitWebhookPlugin, scimPlugin } from '@org/scim-fastify';
import {
  createAdmin,
  createScim,
  createSync,
  type ExampleConfig,
  openProvisioning,
  type PageAnswer,
  PORTAL_LINK_PATH,
  PORTAL_SCRIPT_PATH,
  runSync,
} from 'example-shared';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * The app, on the store `config.database` picks (PostgreSQL with `DATABASE_URL`, else in memory).
 * `app.close()` ends the database pool too.
 */
export async function createApp(
  config: Pick<ExampleConfig, 'webhookSecret' | 'scalekitApi' | 'database' | 'scim' | 'demoLogin' | 'sessionSecret'>,
) {
  const { users, engine, description, close } = await openProvisioning(config);
  const receiver = createScalekitWebhookReceiver({ engine, secret: config.webhookSecret });
  const sync = createSync(engine, config);
  // SCIM 2.0 on the same engine: SCIM users reach the same handlers (503 until configured).
  const scim = createScim(engine, config);
  // The admin portal page and its link route; `/login` only with DEMO_LOGIN=1 (see example-shared).
  const admin = createAdmin(config, users);

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

  // The customer's IT admin sets up SSO and SCIM in the embedded admin portal.
  const send = (reply: FastifyReply, page: PageAnswer) => reply.code(page.status).headers(page.headers).send(page.body);
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) =>
    done(null, body),
  );
  app.get('/login', (_request, reply) => send(reply, admin.loginPage()));
  app.post('/login', (request, reply) =>
    send(reply, admin.login(typeof request.body === 'string' ? request.body : '')),
  );
  app.post('/logout', (_request, reply) => send(reply, admin.logout()));
  app.get('/settings', async (request, reply) => send(reply, await admin.settingsPage(request.headers.cookie)));
  app.get(PORTAL_SCRIPT_PATH, (_request, reply) => send(reply, admin.portalScript()));
  // The hook reads the app's session; here the demo cookie (a real app: its own sign-in).
  app.get(PORTAL_LINK_PATH, adminPortalLink(admin.portalLinks((request: FastifyRequest) => request.headers.cookie)));

  return { app, users, engine, description };
}
