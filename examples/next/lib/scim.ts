/**
 * One engine, one webhook receiver, one SCIM server and one reconciler per server process, on the store
 * `DATABASE_URL` picks (PostgreSQL or MySQL by its scheme, else in memory), opened at the first request. Kept on
 * `globalThis` because Next.js may evaluate this module once per route bundle (and again on every
 * dev reload); the store, and its database pool, must be shared.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createScalekitWebhookReceiver,
  type PortalLinkHandler,
  type ProvisioningEngine,
  type ScalekitWebhookReceiver,
  type ScimServer,
} from '@org/scim-core';
import {
  type Admin,
  type AdminApi,
  type Authorize,
  accessView,
  createAdmin,
  createAdminApi,
  createScim,
  createSync,
  type JsonAnswer,
  loadConfig,
  logServerError,
  openScalekit,
  type PageAnswer,
  type RequestView,
  type Sync,
  webhookServerErrors,
} from '@org/scim-core/app';
import { openProvisioning } from './provisioning';
import type { UserService } from './users';

export interface Scim {
  users: UserService;
  engine: ProvisioningEngine;
  webhooks: ScalekitWebhookReceiver;
  /** On the webhooks' engine, so both paths share one ledger and mirror. */
  sync: Sync;
  /** Which organization the request's signed-in admin manages. */
  authorize: Authorize<Request>;
  /** `/scim/v2/*`, on the same engine (503 `scim_not_configured` without the `SCIM_*` variables). */
  scimServer: ScimServer;
  /** `/settings`, `/login` (with DEMO_LOGIN=1) and the admin portal's script. */
  admin: Admin;
  /** `/api/users`, `/api/groups`, `/api/sync`: for the signed-in admin of the organization only. */
  api: AdminApi<Request>;
  /** `GET /api/admin-portal/link`: asks `authorize` too. */
  portalLinks: PortalLinkHandler<Request>;
}

const KEY = Symbol.for('example-next.scim');

async function open(): Promise<Scim> {
  const config = loadConfig();
  const { users, engine, description } = await openProvisioning(config);
  // Scalekit's API client when SCALEKIT_ENVIRONMENT_URL, _CLIENT_ID and _CLIENT_SECRET are set (it
  // loads @scalekit-sdk/node only then): reconciliation on demand and the admin portal use it.
  const scalekit = await openScalekit(config);
  console.log(`example-next: scim-sync ready (${description})`);
  // Next bundles this module, and bundlers rewrite `require.resolve`: read the browser build of
  // @org/scim-portal (a dependency of this app) from the project's node_modules, as Next's docs
  // suggest for files read at run time.
  const admin = createAdmin({
    config,
    users,
    scalekit,
    // The settings page's provisioning-health panel (last webhook, lag, runs, failures).
    health: engine.health,
    // The page's roles card: each group with the app roles the mapping (ACCESS_RULES) gives it.
    access: accessView(engine, config),
    portalScript: () =>
      readFileSync(join(process.cwd(), 'node_modules', '@org', 'scim-portal', 'dist', 'index.js'), 'utf8'),
  });
  // The one hook your app replaces: the organization this request's signed-in admin manages, or
  // `null` when nobody is signed in. Here the demo session cookie; in your app, your own session
  // (`(await auth())?.user.organizationId` with Auth.js, a JWT claim…). Every admin route asks it.
  const authorize: Authorize<Request> = (request) => admin.signedIn(view(request));
  const sync = createSync(engine, scalekit);
  return {
    users,
    engine,
    webhooks: createScalekitWebhookReceiver({
      engine,
      secret: config.webhookSecret,
      onError: webhookServerErrors(logServerError),
    }),
    sync,
    scimServer: createScim(engine, config),
    admin,
    authorize,
    api: createAdminApi({ authorize, users, sync }),
    portalLinks: admin.portalLinks(authorize),
  };
}

/** The process's one `Scim`, opened at the first call; every route handler awaits it. */
export function scim(): Promise<Scim> {
  const global = globalThis as { [KEY]?: Promise<Scim> };
  // A start that failed (the database was down) is tried again at the next request.
  global[KEY] ??= open().catch((error: unknown) => {
    global[KEY] = undefined;
    throw error;
  });
  return global[KEY];
}

/** What `@org/scim-core/app`'s routes read of a request. */
export function view(request: Request): RequestView {
  return { url: request.url, header: (name) => request.headers.get(name) ?? undefined };
}

/** A page answer of `@org/scim-core/app` as a `Response`. */
export function pageResponse(page: PageAnswer): Response {
  return new Response(page.status === 303 ? null : page.body, { status: page.status, headers: page.headers });
}

/** A JSON answer of `@org/scim-core/app` as a `Response`. */
export function jsonResponse(answer: JsonAnswer): Response {
  return Response.json(answer.body, { status: answer.status, headers: answer.headers });
}

/**
 * A route handler whose every throw becomes a JSON 500 and reaches `logServerError` with its cause,
 * as every example answers (Next would log it too, but answer its own HTML page).
 */
export function route(handle: (request: Request) => Promise<Response>): (request: Request) => Promise<Response> {
  return async (request) => {
    try {
      return await handle(request);
    } catch (error) {
      const { pathname } = new URL(request.url);
      logServerError({
        route: `${request.method} ${pathname}`,
        status: 500,
        code: 'internal_error',
        message: 'The route threw.',
        cause: error,
      });
      return Response.json(
        { error: { code: 'internal_error', message: 'The server failed; the error is in its log.' } },
        { status: 500 },
      );
    }
  };
}
