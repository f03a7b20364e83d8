import { fileURLToPath } from 'node:url';
import { createEventFactory, deliverWebhook, generateWebhookSecret } from '@org/scim-testing';
import { expect, it } from 'vitest';
import { runNode, writeReadmeSnippet } from '../../../scripts/readme-snippets.js';

it('the README snippet starts a server that applies a signed webhook', async () => {
  const secret = generateWebhookSecret();
  const { child, stdout } = await runNode(writeReadmeSnippet(fileURLToPath(new URL('..', import.meta.url))), {
    env: { SCALEKIT_WEBHOOK_SECRET: secret, PORT: '0' },
    until: 'listening on',
  });
  try {
    const url = `${/http:\/\/127\.0\.0\.1:\d+/.exec(stdout)?.[0]}/webhooks/scalekit`;
    const event = createEventFactory().userCreated({ id: 'diruser_1', email: 'ada@example.com' });
    expect(await deliverWebhook(url, event, { secret })).toMatchObject({ status: 200, body: { status: 'applied' } });
  } finally {
    child.kill();
  }
});
