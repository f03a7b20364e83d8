import { createScalekitWebhookReceiver } from '@org/scim-core';
import { adminPortalLink, scalekitWebhook, scimRoutes } from '@org/scim-hono';
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
import { type Context, Hono } from 'hono';

/** The app, on the store `config.database` picks (PostgreSQL with `DATABASE_URL`, else in memory). */
export async function createApp(
  config: Pick<ExampleConfig, 'webhookSecret' | 'scalekitApi' | 'database' | 'scim' | 'demoLogin' | 'sessionSecret'>,
) {
  const { users, engine, description, close } = await openProvisioning(config);
  const webhooks = createScalekitWebhookReceiver({ engine, secret: config.webhookSecret });
  const sync = createSync(engine, config);
  // SCIM 2.0 on the same engine: SCIM users reach the same handlers (503 until configured).
  const scim = createScim(engine, config);
  // The admin portal page and its link route; `/login` only with DEMO_LOGIN=1 (see example-shared).
  const admin = createAdmin(config, users);

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

  // The customer's IT admin sets up SSO and SCIM in the embedded admin portal.
  const send = (c: Context, page: PageAnswer) => c.body(page.body, page.status as 200, page.headers);
  app.get('/login', (c) => send(c, admin.loginPage()));
  app.post('/login', async (c) => send(c, admin.login(await c.req.text())));
  app.post('/logout', (c) => send(c, admin.logout()));
  app.get('/settings', async (c) => send(c, await admin.settingsPage(c.req.header('cookie'))));
  app.get(PORTAL_SCRIPT_PATH, (c) => send(c, admin.portalScript()));
  // The hook reads the app's session; here the demo cookie (a real app: its own sign-in).
  app.get(PORTAL_LINK_PATH, adminPortalLink(admin.portalLinks((c: Context) => c.req.header('cookie'))));

  /** `close()` ends the database pool, if any: call it when the server stops. */
  return { app, users, engine, description, close };
}
