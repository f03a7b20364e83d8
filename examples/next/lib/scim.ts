/**
 * One engine, one webhook receiver and one reconciler per server process. Kept on `globalThis`
 * because Next.js may evaluate this module once per route bundle (and again on every dev reload);
 * the store must be shared.
 */
import { createScalekitWebhookReceiver, type ProvisioningEngine, type ScalekitWebhookReceiver } from '@org/scim-core';
import {
  createProvisioning,
  createSync,
  createUserService,
  loadConfig,
  type Sync,
  type UserService,
} from 'example-shared';

interface Scim {
  users: UserService;
  engine: ProvisioningEngine;
  webhooks: ScalekitWebhookReceiver;
  /** On the webhooks' engine, so both paths share one ledger and mirror. */
  sync: Sync;
}

const KEY = Symbol.for('example-next.scim');

export function scim(): Scim {
  const global = globalThis as { [KEY]?: Scim };
  if (!global[KEY]) {
    const config = loadConfig();
    const users = createUserService();
    const engine = createProvisioning(users);
    global[KEY] = {
      users,
      engine,
      webhooks: createScalekitWebhookReceiver({ engine, secret: config.webhookSecret }),
      sync: createSync(engine, config),
    };
  }
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
