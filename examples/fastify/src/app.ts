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
import { adminPortalLink, scalekitWebhookPlugin, scimPlugin } from '@org/scim-fastify';
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify';
import { openProvisioning } from './provisioning.js';

export interface AppOptions {
  /** Every 5xx the app answers, with its cause. Default `logServerError` (stderr). */
  onServerError?: ServerErrorHook;
}

/**
 * The app, on the store `config.database` picks (PostgreSQL or MySQL by `DATABASE_URL`, else in memory).
 * `app.close()` ends the database pool too.
 */
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
  const receiver = createScalekitWebhookReceiver({
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

  /** What the shared routes read of a request (a repeated header counts as absent). */
  const view = (request: FastifyRequest): RequestView => ({
    url: request.url,
    header: (name) => {
      const value = request.headers[name];
      return typeof value === 'string' ? value : undefined;
    },
  });
  /**
   * The one hook your app replaces: the organization this request's signed-in admin manages, or
   * `null` when nobody is signed in. Here the demo session cookie; in your app, your own session
   * (`request.session.organizationId` from @fastify/session, a JWT claim…). Every admin route below asks it.
   */
  const authorize: Authorize<FastifyRequest> = (request) => admin.signedIn(view(request));
  const api = createAdminApi({ authorize, users, sync, onServerError });

  const app = Fastify();
  app.addHook('onClose', async () => {
    await close();
  });
  // Every error a route threw; Fastify's own 4xx (a malformed JSON body…) keep their status and message.
  app.setErrorHandler((error: unknown, request, reply) => {
    const { statusCode, code, message } = (error ?? {}) as { statusCode?: unknown; code?: unknown; message?: unknown };
    if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
      return reply.code(statusCode).send({ error: { code: String(code ?? 'bad_request'), message: String(message) } });
    }
    const route = `${request.method} ${request.url.split('?', 1)[0]}`;
    onServerError({ route, status: 500, code: 'internal_error', message: 'The route threw.', cause: error });
    return reply
      .code(500)
      .send({ error: { code: 'internal_error', message: 'The server failed; the error is in its log.' } });
  });
  // Encapsulated: the plugin's raw-body parser applies to the webhook route only.
  await app.register(scalekitWebhookPlugin, { receiver });
  // Encapsulated too: every method on /scim/v2 and /scim/v2/*.
  await app.register(scimPlugin, { server: scim });

  // The signed-in admin's own organization only; `/api/sync` also refuses cross-site requests.
  const json = (reply: FastifyReply, answer: JsonAnswer) =>
    reply.code(answer.status).headers(answer.headers).send(answer.body);
  app.get('/api/users', async (request, reply) => json(reply, await api.users(request, view(request))));
  app.get('/api/groups', async (request, reply) => json(reply, await api.groups(request, view(request))));
  app.post('/api/sync', async (request, reply) => json(reply, await api.sync(request, view(request))));

  // The customer's IT admin sets up SSO and SCIM in the embedded admin portal.
  const send = (reply: FastifyReply, page: PageAnswer) => reply.code(page.status).headers(page.headers).send(page.body);
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) =>
    done(null, body),
  );
  app.get('/login', (_request, reply) => send(reply, admin.loginPage()));
  app.post('/login', (request, reply) =>
    send(reply, admin.login(typeof request.body === 'string' ? request.body : '', view(request))),
  );
  app.post('/logout', (request, reply) => send(reply, admin.logout(view(request))));
  app.get('/settings', async (request, reply) =>
    send(reply, await admin.settingsPage(await authorize(request), view(request))),
  );
  app.get(PORTAL_SCRIPT_PATH, (_request, reply) => send(reply, admin.portalScript()));
  app.get(PORTAL_LINK_PATH, adminPortalLink(admin.portalLinks(authorize)));

  return { app, users, engine, description };
}
