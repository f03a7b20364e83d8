/**
 * One engine, one webhook receiver, one SCIM server and one reconciler per server process, on the store
 * `DATABASE_URL` picks (PostgreSQL when set, else in memory), opened at the first request. Kept on
 * `globalThis` because Next.js may evaluate this module once per route bundle (and again on every
 * dev reload); the store, and its database pool, must be shared.
 */
import {
  createScalekitWebhookReceiver,
  type ProvisioningEngine,
  type ScalekitWebhookReceiver,
  type ScimServer,
} from '@org/scim-core';
import { createScim, createSync, loadConfig, openProvisioning, type Sync, type UserService } from 'example-shared';

interface Scim {
  users: UserService;
  engine: ProvisioningEngine;
  webhooks: ScalekitWebhookReceiver;
  /** On the webhooks' engine, so both paths share one ledger and mirror. */
  sync: Sync;
  /** `/scim/v2/*`, on the same engine (503 `scim_not_configured` without the `SCIM_*` variables). */
  scimServer: ScimServer;
}

const KEY = Symbol.for('example-next.scim');

async function open(): Promise<Scim> {
  const config = loadConfig();
  const { users, engine, description } = await openProvisioning(config);
  console.log(`example-next: scim-sync ready (${description})`);
  return {
    users,
    engine,
    webhooks: createScalekitWebhookReceiver({ engine, secret: config.webhookSecret }),
    sync: createSync(engine, config),
    scimServer: createScim(engine, config),
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
