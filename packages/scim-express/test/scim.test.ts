import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createEngine, createScimServer, generateScimToken, memoryStore, scimTokenAuthenticator } from '@org/scim-core';
import {
  runScimHostileInputSuite,
  runScimMountConformanceSuite,
  type ScimMountHarness,
} from '@org/scim-testing/conformance';
import express5, { type ErrorRequestHandler } from 'express';
import express4 from 'express4';
import { afterEach, describe, expect, it } from 'vitest';
import { scimRouter } from '../src/index.js';

for (const [name, express] of [
  ['Express 5', express5],
  ['Express 4', express4 as unknown as typeof express5],
] as const) {
  const harness = {
    async start({ server, basePath, globalBodyParser }) {
      const app = express();
      // The app's usual global parser, here also taking SCIM's media type, so SCIM bodies arrive parsed.
      if (globalBodyParser) app.use(express.json({ type: ['application/json', 'application/scim+json'] }));
      app.use(basePath, scimRouter(server));
      const http = app.listen(0, '127.0.0.1');
      await once(http, 'listening');
      return {
        url: `http://127.0.0.1:${(http.address() as AddressInfo).port}`,
        close: () => {
          http.closeAllConnections();
          http.close();
        },
      };
    },
  } satisfies ScimMountHarness;
  runScimMountConformanceSuite(`@org/scim-express on ${name}`, harness);
  runScimHostileInputSuite(`@org/scim-express on ${name}`, harness);
}

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** An Express 5 app whose `build` mounts what it likes around the SCIM router; the base URL and a token. */
async function start(build: (app: ReturnType<typeof express5>, router: ReturnType<typeof scimRouter>) => void) {
  const { token, tokenHash } = generateScimToken();
  const server = createScimServer({
    engine: createEngine({ store: memoryStore() }),
    authenticator: scimTokenAuthenticator([{ organizationId: 'org_1', tokenHash }]),
  });
  const app = express5();
  build(app, scimRouter(server));
  const http = app.listen(0, '127.0.0.1');
  await once(http, 'listening');
  closers.push(() => {
    http.closeAllConnections();
    http.close();
  });
  return { base: `http://127.0.0.1:${(http.address() as AddressInfo).port}/scim/v2`, token };
}

describe('scimRouter after an app-wide express.json()', () => {
  it("answers a body over the parser's own limit with a SCIM 413 that says how to fix it", async () => {
    const { base, token } = await start((app, router) => {
      app.use(express5.json({ type: ['application/json', 'application/scim+json'], limit: 1024 }));
      app.use('/scim/v2', router);
    });
    const response = await fetch(`${base}/Users`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
      body: JSON.stringify({ userName: 'ada@example.com', nickName: 'x'.repeat(2048) }),
    });
    expect(response.status).toBe(413);
    expect(response.headers.get('content-type')).toContain('application/scim+json');
    const body = (await response.json()) as { detail: string };
    expect(body.detail).toContain('1024-byte limit');
    expect(body.detail).toContain("app.use('/scim/v2', scimRouter(server)) first");
  });

  it("leaves an error that is not a body parser's to the app's error handler", async () => {
    const { base, token } = await start((app, router) => {
      app.use((_request, _response, next) => next(new Error('the session store is down')));
      app.use('/scim/v2', router);
      app.use(((error, _request, response, _next) => {
        response.status(503).send((error as Error).message);
      }) satisfies ErrorRequestHandler);
    });
    const response = await fetch(`${base}/Users`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(503);
    expect(await response.text()).toBe('the session store is down');
  });
});
