import { createScalekitWebhookReceiver, type ProvisioningEngine } from '@org/scim-core';
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
import { adminPortalLink, scalekitWebhook, scimRouter } from '@org/scim-express';
import express, { type ErrorRequestHandler, type Express, type Request, type Response } from 'express';
import { openProvisioning } from './provisioning.js';
import type { UserService } from './users.js';

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
): Promise<{
  app: Express;
  users: UserService;
  engine: ProvisioningEngine;
  description: string;
  /** Ends the database pool, if any: call it when the server stops. */
  close(): Promise<void>;
}> {
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
  const view = (request: Request): RequestView => ({ url: request.originalUrl, header: (name) => request.get(name) });
  /**
   * The one hook your app replaces: the organization this request's signed-in admin manages, or
   * `null` when nobody is signed in. Here the demo session cookie; in your app, your own session
   * (`request.user?.organizationId` from Passport, a JWT claim…). Every admin route below asks it.
   */
  const authorize: Authorize<Request> = (request) => admin.signedIn(view(request));
  const api = createAdminApi({ authorize, users, sync, onServerError });

  const app = express();
  // The webhook route reads its own raw body: register it before the app-wide JSON parser.
  app.post('/webhooks/scalekit', scalekitWebhook(webhooks));
  app.use('/scim/v2', scimRouter(scim));
  app.use(express.json());

  // The signed-in admin's own organization only; `/api/sync` also refuses cross-site requests.
  // Express 5 forwards a rejected promise to the error handler below.
  const json = (response: Response, answer: JsonAnswer) =>
    response.status(answer.status).set(answer.headers).json(answer.body);
  app.get('/api/users', async (request, response) => json(response, await api.users(request, view(request))));
  app.get('/api/groups', async (request, response) => json(response, await api.groups(request, view(request))));
  app.post('/api/sync', async (request, response) => json(response, await api.sync(request, view(request))));

  // The customer's IT admin sets up SSO and SCIM in the embedded admin portal.
  const send = (response: Response, page: PageAnswer) => response.status(page.status).set(page.headers).send(page.body);
  app.get('/login', (_request, response) => send(response, admin.loginPage()));
  app.post('/login', express.text({ type: 'application/x-www-form-urlencoded' }), (request, response) =>
    send(response, admin.login(typeof request.body === 'string' ? request.body : '', view(request))),
  );
  app.post('/logout', (request, response) => send(response, admin.logout(view(request))));
  app.get('/settings', async (request, response) =>
    send(response, await admin.settingsPage(await authorize(request), view(request))),
  );
  app.get(PORTAL_SCRIPT_PATH, (_request, response) => send(response, admin.portalScript()));
  app.get(PORTAL_LINK_PATH, adminPortalLink(admin.portalLinks(authorize)));

  // Last: every error a route threw. Body-parser's own 4xx (a malformed JSON body) keep their status.
  const failed: ErrorRequestHandler = (error: unknown, request, response, next) => {
    if (response.headersSent) return next(error);
    const { status, type, message } = (error ?? {}) as { status?: unknown; type?: unknown; message?: unknown };
    if (typeof status === 'number' && status >= 400 && status < 500) {
      response.status(status).json({ error: { code: String(type ?? 'bad_request'), message: String(message) } });
      return;
    }
    const route = `${request.method} ${request.path}`;
    onServerError({ route, status: 500, code: 'internal_error', message: 'The route threw.', cause: error });
    response
      .status(500)
      .json({ error: { code: 'internal_error', message: 'The server failed; the error is in its log.' } });
  };
  app.use(failed);

  return { app, users, engine, description, close };
}
