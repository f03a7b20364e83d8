import { createScalekitWebhookReceiver } from '@org/scim-core';
import {
  type AppConfig,
  type Authorize,
  accessView,
  createAdmin,
  createAdminApi,
  createScim,
  createSync,
  type JsonAnswer,
  logServerError,
  openScalekit,
  type PageAnswer,
  PORTAL_LINK_PATH,
  PORTAL_SCRIPT_PATH,
  type RequestView,
  type ServerErrorHook,
  webhookServerErrors,
} from '@org/scim-core/app';
import { adminPortalLink, scalekitWebhook, scimRoutes } from '@org/scim-hono';
import { type Context, Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { openProvisioning } from './provisioning.js';

export interface AppOptions {
  /** Every 5xx the app answers, with its cause. Default `logServerError` (stderr). */
  onServerError?: ServerErrorHook;
}

/** The app, on the store `config.database` picks (PostgreSQL or MySQL by `DATABASE_URL`, else in memory). */
export async function createApp(
  config: Pick<
    AppConfig,
    | 'webhookSecret'
    | 'scalekitApi'
    | 'database'
    | 'scim'
    | 'demoLogin'
    | 'sessionSecret'
    | 'sessionTtlSeconds'
    | 'access'
  >,
  options: AppOptions = {},
) {
  const onServerError = options.onServerError ?? logServerError;
  const { users, engine, description, close } = await openProvisioning(config);
  const webhooks = createScalekitWebhookReceiver({
    engine,
    secret: config.webhookSecret,
    onError: webhookServerErrors(onServerError),
  });
  // Scalekit's API client when SCALEKIT_ENVIRONMENT_URL, _CLIENT_ID and _CLIENT_SECRET are set (it
  // loads @scalekit-sdk/node only then): reconciliation on demand and the admin portal use it.
  const scalekit = await openScalekit(config);
  const sync = createSync(engine, scalekit);
  // SCIM 2.0 on the same engine: SCIM users reach the same handlers (503 until configured).
  const scim = createScim(engine, config, onServerError);
  // The admin portal page and its link route; `/login` only with DEMO_LOGIN=1.
  // `health`: the settings page's provisioning-health panel (last webhook, lag, runs, failures).
  // `access`: the page's roles card, each group with the app roles the mapping (ACCESS_RULES) gives it.
  const admin = createAdmin({
    config,
    users,
    scalekit,
    onServerError,
    health: engine.health,
    access: accessView(engine, config),
  });

  /** What the shared routes read of a request. */
  const view = (c: Context): RequestView => ({ url: c.req.url, header: (name) => c.req.header(name) });
  /**
   * The one hook your app replaces: the organization this request's signed-in admin manages, or
   * `null` when nobody is signed in. Here the demo session cookie; in your app, your own session
   * (`c.get('user')?.organizationId`, a JWT claim…). Every admin route below asks it.
   */
  const authorize: Authorize<Context> = (c) => admin.signedIn(view(c));
  const api = createAdminApi({ authorize, users, sync, onServerError });

  const app = new Hono();
  app.onError((error, c) => {
    const route = `${c.req.method} ${c.req.path}`;
    onServerError({ route, status: 500, code: 'internal_error', message: 'The route threw.', cause: error });
    return c.json({ error: { code: 'internal_error', message: 'The server failed; the error is in its log.' } }, 500);
  });

  app.post('/webhooks/scalekit', scalekitWebhook(webhooks));
  app.all('/scim/v2/*', scimRoutes(scim));

  const json = (c: Context, answer: JsonAnswer) => c.json(answer.body, answer.status as 200, answer.headers);
  // The signed-in admin's own organization only; `/api/sync` also refuses cross-site requests.
  app.get('/api/users', async (c) => json(c, await api.users(c, view(c))));
  app.get('/api/groups', async (c) => json(c, await api.groups(c, view(c))));
  app.post('/api/sync', async (c) => json(c, await api.sync(c, view(c))));

  // The customer's IT admin sets up SSO and SCIM in the embedded admin portal.
  const send = (c: Context, page: PageAnswer) => c.body(page.body, page.status as 200, page.headers);
  app.get('/login', (c) => send(c, admin.loginPage()));
  // The sign-in form is one short field: a body over 16 KB is refused (413) unread, and the
  // connection closed so the rest of it is never taken for the next request.
  const formLimit = bodyLimit({
    maxSize: 16 * 1024,
    onError: (c) => c.text('The sign-in form is too large.', 413, { connection: 'close' }),
  });
  app.post('/login', formLimit, async (c) => send(c, admin.login(await c.req.text(), view(c))));
  app.post('/logout', (c) => send(c, admin.logout(view(c))));
  app.get('/settings', async (c) => send(c, await admin.settingsPage(await authorize(c), view(c))));
  app.get(PORTAL_SCRIPT_PATH, (c) => send(c, admin.portalScript()));
  app.get(PORTAL_LINK_PATH, adminPortalLink(admin.portalLinks(authorize)));

  /** `close()` ends the database pool, if any: call it when the server stops. */
  return { app, users, engine, description, close };
}
