/** Each plugin and route refuses a missing or wrong argument when it is registered, naming it and what to pass. */
import {
  createEngine,
  createPortalLinkHandler,
  createScalekitWebhookReceiver,
  createScimServer,
  memoryStore,
  OptionsError,
  scimTokenAuthenticator,
} from '@org/scim-core';
import { generateWebhookSecret } from '@org/scim-testing';
import Fastify, { type FastifyRequest } from 'fastify';
import { describe, expect, it } from 'vitest';
import { adminPortalLink, scalekitWebhookPlugin, scimPlugin } from '../src/index.js';

const engine = createEngine({ store: memoryStore() });
const receiver = createScalekitWebhookReceiver({ engine, secret: generateWebhookSecret() });
const server = createScimServer({ engine, authenticator: scimTokenAuthenticator([]) });
/** What a JavaScript caller can pass where TypeScript would refuse it. */
const bad = <T>(value: unknown): T => value as T;

/** The error `app.ready()` rejects with once `register` added a plugin. */
async function registering(register: (app: ReturnType<typeof Fastify>) => void): Promise<unknown> {
  const app = Fastify();
  register(app);
  try {
    await app.ready();
    return undefined;
  } finally {
    await app.close();
  }
}

describe.each([
  {
    plugin: 'scalekitWebhookPlugin',
    register: (app: ReturnType<typeof Fastify>, value: unknown) =>
      app.register(scalekitWebhookPlugin, bad({ receiver: value })),
    good: receiver,
    path: 'options.receiver',
    expected: 'the object createScalekitWebhookReceiver({ engine, secret }) returns',
  },
  {
    plugin: 'scimPlugin',
    register: (app: ReturnType<typeof Fastify>, value: unknown) => app.register(scimPlugin, bad({ server: value })),
    good: server,
    path: 'options.server',
    expected: 'the object createScimServer({ engine, authenticator }) returns',
  },
])('$plugin', ({ plugin, register, good, path, expected }) => {
  it(`refuses to register without ${path}`, async () => {
    const error = await registering((app) => register(app, undefined)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OptionsError);
    expect(error).toMatchObject({ factory: plugin, issues: [{ path }] });
    expect((error as Error).message).toBe(`${plugin}: ${path} is missing: pass ${expected}`);
  });

  it('refuses to register with the engine in its place', async () => {
    const error = await registering((app) => register(app, engine)).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      `${plugin}: ${path} must be ${expected}, got a ProvisioningEngine (from createEngine())`,
    );
  });

  it('registers with the right object', async () => {
    await expect(registering((app) => register(app, good))).resolves.toBeUndefined();
  });
});

describe('adminPortalLink', () => {
  it('refuses a missing handler at once', () => {
    expect(() => adminPortalLink(bad(undefined))).toThrow(
      new OptionsError('adminPortalLink', [
        {
          path: 'handler',
          message: 'is missing: pass the object createPortalLinkHandler({ client, authorize }) returns',
        },
      ]),
    );
  });

  it('refuses the options object meant for createPortalLinkHandler', () => {
    const options = { client: {}, authorize: () => null };
    expect(() => adminPortalLink(bad(options))).toThrow(
      /^adminPortalLink: handler must be the object createPortalLinkHandler\(\{ client, authorize \}\) returns, got an object with keys client, authorize$/,
    );
  });

  it('accepts a handler', () => {
    const handler = createPortalLinkHandler<FastifyRequest>({
      client: { organization: { generatePortalLink: async () => ({ location: 'https://example.com' }) } },
      authorize: () => null,
    });
    expect(() => adminPortalLink(handler)).not.toThrow();
  });
});
