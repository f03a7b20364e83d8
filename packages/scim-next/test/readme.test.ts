import { fileURLToPath, pathToFileURL } from 'node:url';
import { createEventFactory, generateWebhookSecret, signDelivery } from '@org/scim-testing';
import { expect, it } from 'vitest';
import { writeReadmeSnippet } from '../../../scripts/readme-snippets.js';

it('the README route module answers a signed webhook', async () => {
  const secret = generateWebhookSecret();
  process.env.SCALEKIT_WEBHOOK_SECRET = secret;
  const file = writeReadmeSnippet(fileURLToPath(new URL('..', import.meta.url)));
  const route = (await import(/* @vite-ignore */ pathToFileURL(file).href)) as {
    POST: (request: Request) => Promise<Response>;
  };
  const { body, headers } = signDelivery(
    createEventFactory().userCreated({ id: 'diruser_1', email: 'ada@example.com' }),
    { secret },
  );
  const response = await route.POST(
    new Request('http://127.0.0.1/webhooks/scalekit', { method: 'POST', headers, body }),
  );
  expect(response.status).toBe(200);
  expect(await response.json()).toMatchObject({ status: 'applied', handlers: ['userCreated'] });
});
