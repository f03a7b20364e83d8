import { runAdapterConformanceSuite } from '@org/scim-testing/conformance';
import { afterAll } from 'vitest';
import { setReceiver, startFixture } from './next-server.js';

// One `next build` and one server for both routers; each suite only swaps the receiver.
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
