import { createEngine, createScalekitWebhookReceiver, memoryStore } from '@org/scim-core';
import { createEventFactory, deliverWebhook, generateWebhookSecret } from '@org/scim-testing';
import {
  runAdapterConformanceSuite,
  runScimHostileInputSuite,
  runScimMountConformanceSuite,
} from '@org/scim-testing/conformance';
import { afterAll, expect, it } from 'vitest';
import { setReceiver, setScimServer, startFixture } from './next-server.js';

// One `next build` and one server for the whole file (two builds of one app must not race); each
// suite only swaps the receiver.
let server: ReturnType<typeof startFixture> | undefined;
const shared = () => {
  server ??= startFixture();
  return server;
};
afterAll(async () => {
  await (await server)?.close();
});

for (const [router, prefix] of [
  ['App Router route handler', ''],
  ['Pages Router API route', '/pages-router'],
] as const) {
  runAdapterConformanceSuite(`@org/scim-next, ${router}, under next build`, {
    globalBodyParser: false,
    async start({ receiver }) {
      setReceiver(receiver);
      const { url } = await shared();
      return { url: `${url}${prefix}`, close: () => {} };
    },
  });
}

it("answers 500 with the fix, not a misleading 401, when Next's body parser is left on for a Pages Router route", async () => {
  const secret = generateWebhookSecret();
  setReceiver(
    createScalekitWebhookReceiver({ engine: createEngine({ store: memoryStore() }), secret, onError: () => {} }),
  );
  const { url } = await shared();
  const event = createEventFactory().userCreated({ id: 'diruser_1' });
  const result = await deliverWebhook(`${url}/api/pages-webhook-parsed`, event, { secret });
  expect(result).toMatchObject({ status: 500, body: { error: { code: 'raw_body_unavailable' } } });
  expect((result.body as { error: { message: string } }).error.message).toContain('bodyParser: false');
});

runScimMountConformanceSuite('@org/scim-next, App Router catch-all route, under next build', {
  globalBodyParser: false,
  async start({ server }) {
    setScimServer(server);
    return { url: (await shared()).url, close: () => {} };
  },
});

runScimHostileInputSuite('@org/scim-next, App Router catch-all route, under next build', {
  async start({ server }) {
    setScimServer(server);
    return { url: (await shared()).url, close: () => {} };
  },
});
