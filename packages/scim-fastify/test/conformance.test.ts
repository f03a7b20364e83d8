import type { AddressInfo } from 'node:net';
import { runAdapterConformanceSuite } from '@org/scim-testing/conformance';
import Fastify from 'fastify';
import { scalekitWebhookPlugin } from '../src/index.js';

runAdapterConformanceSuite('@org/scim-fastify on Fastify 5', {
  async start({ receiver, globalBodyParser }) {
    const app = Fastify();
    if (globalBodyParser) {
      // An app-wide JSON parser of the app's own, replacing Fastify's default one.
      app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
        try {
          done(null, JSON.parse(body as string));
        } catch (error) {
          done(error as Error, undefined);
        }
      });
    }
    await app.register(scalekitWebhookPlugin, { receiver });
    await app.listen({ port: 0, host: '127.0.0.1' });
    return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
  },
});
