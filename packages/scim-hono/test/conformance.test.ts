import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { runAdapterConformanceSuite } from '@org/scim-testing/conformance';
import { Hono } from 'hono';
import { scalekitWebhook } from '../src/index.js';

runAdapterConformanceSuite('@org/scim-hono on @hono/node-server', {
  async start({ receiver, globalBodyParser }) {
    const app = new Hono();
    if (globalBodyParser) {
      // The usual app-wide middleware that reads JSON bodies before any route.
      app.use(async (c, next) => {
        if (c.req.header('content-type')?.includes('application/json'))
          c.set('parsed' as never, (await c.req.json()) as never);
        await next();
      });
    }
    app.post('/webhooks/scalekit', scalekitWebhook(receiver));
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  },
});
