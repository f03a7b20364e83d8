import { createScalekitWebhookReceiver, type ProvisioningEngine, type ProvisioningStore } from '@org/scim-core';
import { scalekitWebhook } from '@org/scim-express';
import {
  createProvisioning,
  createSync,
  createUserService,
  type ExampleConfig,
  runSync,
  type UserService,
} from 'example-shared';
import express, { type Express, type Response } from 'express';

export function createApp(
  config: Pick<ExampleConfig, 'webhookSecret' | 'scalekitApi'>,
  store?: ProvisioningStore,
): { app: Express; users: UserService; engine: ProvisioningEngine } {
  const users = createUserService();
  const engine = createProvisioning(users, store);
  const webhooks = createScalekitWebhookReceiver({ engine, secret: config.webhookSecret });
  const sync = createSync(engine, config);

  const app = express();
  // The webhook route reads its own raw body: register it before the app-wide JSON parser.
  app.post('/webhooks/scalekit', scalekitWebhook(webhooks));
  app.use(express.json());

  const organizationOf = (query: unknown, response: Response): string | undefined => {
    const organizationId = (query as { organization_id?: unknown }).organization_id;
    if (typeof organizationId === 'string' && organizationId) return organizationId;
    response
      .status(400)
      .json({ error: { code: 'missing_organization_id', message: 'Add ?organization_id=org_… to the URL.' } });
    return undefined;
  };

  app.get('/api/users', (request, response) => {
    const organizationId = organizationOf(request.query, response);
    if (organizationId) response.json(users.listUsers(organizationId));
  });
  app.get('/api/groups', (request, response) => {
    const organizationId = organizationOf(request.query, response);
    if (organizationId) response.json(users.listGroups(organizationId));
  });

  // Reconciliation on demand. A real app lets only its admins (or an internal job) call this.
  // Express 5 forwards a rejected promise to its error handler.
  app.post('/api/sync', async (request, response) => {
    const { status, body } = await runSync(sync, new URL(request.originalUrl, 'http://localhost').searchParams);
    response.status(status).json(body);
  });

  return { app, users, engine };
}
