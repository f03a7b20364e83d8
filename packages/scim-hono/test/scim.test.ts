import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import {
  runScimHostileInputSuite,
  runScimMountConformanceSuite,
  type ScimMountHarness,
} from '@org/scim-testing/conformance';
import { Hono } from 'hono';
import { scimRoutes } from '../src/index.js';

const harness = {
  async start({ server, basePath, globalBodyParser }) {
    const app = new Hono();
    if (globalBodyParser) {
      // The usual app-wide middleware that reads JSON bodies before any route, tolerating bad ones.
      app.use(async (c, next) => {
        if (c.req.header('content-type')?.includes('json')) await c.req.json().catch(() => undefined);
        await next();
      });
    }
    app.all(`${basePath}/*`, scimRoutes(server));
    const http = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => http.once('listening', resolve));
    return {
      url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
      close: () => new Promise<void>((resolve) => http.close(() => resolve())),
    };
  },
} satisfies ScimMountHarness;

runScimMountConformanceSuite('@org/scim-hono on @hono/node-server', harness);
runScimHostileInputSuite('@org/scim-hono on @hono/node-server', harness);
