import type { AddressInfo } from 'node:net';
import {
  runScimHostileInputSuite,
  runScimMountConformanceSuite,
  type ScimMountHarness,
} from '@org/scim-testing/conformance';
import Fastify from 'fastify';
import { scimPlugin } from '../src/index.js';

for (const basePath of ['/scim/v2', '/tenant-scim']) {
  const harness = {
    basePath,
    async start({ server, globalBodyParser }) {
      const app = Fastify();
      if (globalBodyParser) {
        // The app parses SCIM's media type as JSON everywhere, with Fastify's own JSON parser.
        app.addContentTypeParser(
          'application/scim+json',
          { parseAs: 'string' },
          app.getDefaultJsonParser('error', 'error'),
        );
      }
      await app.register(scimPlugin, { server, ...(basePath !== '/scim/v2' && { prefix: basePath }) });
      await app.listen({ port: 0, host: '127.0.0.1' });
      return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, close: () => app.close() };
    },
  } satisfies ScimMountHarness;
  runScimMountConformanceSuite(`@org/scim-fastify on Fastify 5 at ${basePath}`, harness);
  runScimHostileInputSuite(`@org/scim-fastify on Fastify 5 at ${basePath}`, harness);
}
