import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { runAdapterConformanceSuite } from '@org/scim-testing/conformance';
import express5 from 'express';
import express4 from 'express4';
import { scalekitWebhook } from '../src/index.js';

for (const [name, express] of [
  ['Express 5', express5],
  ['Express 4', express4 as unknown as typeof express5],
] as const) {
  runAdapterConformanceSuite(`@org/scim-express on ${name}`, {
    async start({ receiver, globalBodyParser }) {
      const app = express();
      app.post('/webhooks/scalekit', scalekitWebhook(receiver));
      // The app's usual global parser, registered after the webhook route as the README says.
      if (globalBodyParser) app.use(express.json(), express.urlencoded({ extended: false }));
      const server = app.listen(0, '127.0.0.1');
      await once(server, 'listening');
      return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => {
          server.closeAllConnections();
          server.close();
        },
      };
    },
  });
}
