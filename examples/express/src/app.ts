import { createScalekitWebhookReceiver, type ProvisioningEngine } from '@org/scim-core';
import { adminPortalLink, scalekitWebhook, scimRouter } from '@org/scim-express';
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
  type UserService,
} from 'example-shared';
import express, { type Express, type Response } from 'express';

/** The app, on the store `config.database` picks (PostgreSQL with `DATABASE_URL`, else in memory). */
export async function createApp(
  config: Pick<ExampleConfig, 'webhookSecret' | 'scalekitApi' | 'database' | 'scim' | 'demoLogin' | 'sessionSecret'>,
): Promise<{
  app: Express;
  users: UserService;
  engine: ProvisioningEngine;
  description: string;
  /** Ends the database pool, if any: call it when the server stops. */
  close(): Promise<void>;
}> {
  const { users, engine, description, close } = await openProvisioning(config);
  const webhooks = createScalekitWebhookReceiver({ engine, secret: config.webhookSecret });
  const sync = createSync(engine, config);
  // SCIM 2.0 on the same engine: SCIM users reach the same handlers (503 until configured).
  const scim = createScim(engine, config);
  // The admin portal page and its link route; `/login` only with DEMO_LOGIN=1 (see example-shared).
  const admin = createAdmin(config, users);

  const app = express();
  // The webhook route reads its own raw body: register it before the app-wide JSON parser.
  app.post('/webhooks/scalekit', scalekitWebhook(webhooks));
  app.use('/scim/v2', scimRouter(scim));
  app.use(express.json());

  const organizationOf = (query: unknown, response: Response): string | undefined => {
    const organizationId = (query as { organization_id?: unknown }).organization_id;
    if (typeof organizationId === 'string' && organizationId) return organizationId;
    response
      .status(400)
      .json({ error: { code: 'missing_organization_id', message: 'Add ?organization_id=org_… to the URL.' } });
    return undefined;
  };

  // Express 5 forwards a rejected promise to its error handler.
  app.get('/api/users', async (request, response) => {
    const organizationId = organizationOf(request.query, response);
    if (organizationId) response.json(await users.listUsers(organizationId));
  });
  app.get('/api/groups', async (request, response) => {
    const organizationId = organizationOf(request.query, response);
    if (organizationId) response.json(await users.listGroups(organizationId));
  });

  // Reconciliation on demand. A real app lets only its admins (or an internal job) call this.
  app.post('/api/sync', async (request, response) => {
    const { status, body } = await runSync(sync, new URL(request.originalUrl, 'http://localhost').searchParams);
    response.status(status).json(body);
  });

  // The customer's IT admin sets up SSO and SCIM in the embedded admin portal.
  const send = (response: Response, page: PageAnswer) => response.status(page.status).set(page.headers).send(page.body);
  app.get('/login', (_request, response) => send(response, admin.loginPage()));
  app.post('/login', express.text({ type: 'application/x-www-form-urlencoded' }), (request, response) =>
    send(response, admin.login(typeof request.body === 'string' ? request.body : '')),
  );
  app.post('/logout', (_request, response) => send(response, admin.logout()));
  app.get('/settings', async (request, response) => send(response, await admin.settingsPage(request.headers.cookie)));
  app.get(PORTAL_SCRIPT_PATH, (_request, response) => send(response, admin.portalScript()));
  // The hook reads the app's session; here the demo cookie (a real app: its own sign-in, e.g. req.user).
  app.get(PORTAL_LINK_PATH, adminPortalLink(admin.portalLinks((request) => request.headers.cookie)));

  return { app, users, engine, description, close };
}
