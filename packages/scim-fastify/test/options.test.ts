/** Each plugin and route refuses a missing or wrong argument when it is registered, naming it and what to pass. */
import { runRouteOptionsSuite } from '@org/scim-testing/conformance';
import Fastify from 'fastify';
import { expect, it } from 'vitest';
import { adminPortalLink, scalekitWebhookPlugin, scimPlugin } from '../src/index.js';

/** What a JavaScript caller can pass where TypeScript would refuse it. */
const bad = <T>(value: unknown): T => value as T;

/** Registers a plugin on a fresh app; resolves once it loaded, rejects with what refused it. */
async function registering(register: (app: ReturnType<typeof Fastify>) => void): Promise<void> {
  const app = Fastify();
  register(app);
  try {
    await app.ready();
  } finally {
    await app.close();
  }
}

runRouteOptionsSuite([
  {
    route: 'scalekitWebhookPlugin',
    argument: 'options.receiver',
    takes: 'webhook receiver',
    mount: (value) => registering((app) => app.register(scalekitWebhookPlugin, bad({ receiver: value }))),
  },
  {
    route: 'scimPlugin',
    argument: 'options.server',
    takes: 'SCIM server',
    mount: (value) => registering((app) => app.register(scimPlugin, bad({ server: value }))),
  },
  {
    route: 'adminPortalLink',
    argument: 'handler',
    takes: 'portal-link handler',
    mount: (v) => adminPortalLink(bad(v)),
  },
]);

it('adminPortalLink refuses the options object meant for createPortalLinkHandler', () => {
  expect(() => adminPortalLink(bad({ client: {}, authorize: () => null }))).toThrow(
    /^adminPortalLink: handler must be the object createPortalLinkHandler\(\{ client, authorize \}\) returns, got an object with keys client, authorize$/,
  );
});
