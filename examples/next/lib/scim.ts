/**
 * One engine, one webhook receiver, one SCIM server and one reconciler per server process, on the store
 * `DATABASE_URL` picks (PostgreSQL when set, else in memory), opened at the first request. Kept on
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
  createAdmin,
  createScim,
  createSync,
  loadConfig,
  openProvisioning,
  type Sync,
  type UserService,
} from 'example-shared';

interface Scim {
  users: UserService;
  engine: ProvisioningEngine;
  webhooks: ScalekitWebhookReceiver;
  /** On the webhooks' engine, so both paths share one ledger and mirror. */
  sync: Sync;
  /** `/scim/v2/*`, on the same engine (503 `scim_not_configured` without the `SCIM_*` variables). */
  scimServer: ScimServer;
  /** `/settings`, `/login` (with DEMO_LOGIN=1) and the admin portal's script. */
  admin: Admin;
  /** `GET /api/admin-portal/link`: its hook reads the session from the request's cookie. */
  portalLinks: PortalLinkHandler<Request>;
}

const KEY = Symbol.for('example-next.scim');

async function open(): Promise<Scim> {
  const config = loadConfig();
  const { users, engine, description } = await openProvisioning(config);
  console.log(`example-next: scim-sync ready (${description})`);
  // Next bundles this module, and bundlers rewrite `require.resolve`: read the browser build of
  // @org/scim-portal (a dependency of this app) from the project's node_modules, as Next's docs
  // suggest for files read at run time.
  const admin = createAdmin(config, users, {
    portalScript: () =>
      readFileSync(join(process.cwd(), 'node_modules', '@org', 'scim-portal', 'dist', 'index.js'), 'utf8'),
  });
  return {
    users,
    engine,
    webhooks: createScalekitWebhookReceiver({ engine, secret: config.webhookSecret }),
    sync: createSync(engine, config),
    scimServer: createScim(engine, config),
    admin,
    // The hook reads the app's session; here the demo cookie (a real app: its own sign-in).
    portalLinks: admin.portalLinks((request: Request) => request.headers.get('cookie')),
  };
}

export function scim(): Promise<Scim> {
  const global = globalThis as { [KEY]?: Promise<Scim> };
  // A start that failed (the database was down) is tried again at the next request.
  global[KEY] ??= open().catch((error: unknown) => {
    global[KEY] = undefined;
    throw error;
  });
  return global[KEY];
}

/** `?organization_id=` or a JSON 400, as every example answers. */
export function organizationOf(request: Request): string | Response {
  const organizationId = new URL(request.url).searchParams.get('organization_id');
  return (
    organizationId ||
    Response.json(
      { error: { code: 'missing_organization_id', message: 'Add ?organization_id=org_… to the URL.' } },
      { status: 400 },
    )
  );
}

/** An example-shared page answer as a `Response`. */
export function pageResponse(page: { status: number; headers: Record<string, string>; body: string }): Response {
  return new Response(page.status === 303 ? null : page.body, { status: page.status, headers: page.headers });
}
