import { createScalekitWebhookReceiver, type ProvisioningEngine, type ProvisioningStore } from '@org/scim-core';
import { scalekitWebhook } from '@org/scim-express';
import { createProvisioning, createUserService, type ExampleConfig, type UserService } from 'example-shared';
import express, { type Express, type Response } from 'express';

export function createApp(
  config: Pick<ExampleConfig, 'webhookSecret'>,
  store?: ProvisioningStore,
): { app: Express; users: UserService; engine: ProvisioningEngine } {
  const users = createUserService();
  const engine = createProvisioning(users, store);
  const webhooks = createScalekitWebhookReceiver({ engine, secret: config.webhookSecret });

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

  return { app, users, engine };
}
