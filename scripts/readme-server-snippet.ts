/** Kept apart from readme-snippets.ts: it needs @org/scim-testing built, which only the adapters depend on. */
import { fileURLToPath } from 'node:url';
import { createEventFactory, deliverWebhook, generateWebhookSecret } from '@org/scim-testing';
import { expect } from 'vitest';
import { runNode, writeReadmeSnippet } from './readme-snippets.js';

/**
 * For adapter READMEs, whose snippet starts a server: runs it with a fresh secret and `PORT=0`,
 * sends it one signed event, and expects it applied.
 */
export async function expectServerSnippetApplies(packageUrl: URL): Promise<void> {
  const secret = generateWebhookSecret();
  const { child, stdout } = await runNode(writeReadmeSnippet(fileURLToPath(packageUrl)), {
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
}
