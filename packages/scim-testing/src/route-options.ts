/**
 * The adapters' argument checks, as one suite every framework adapter runs: each route factory (or
 * Fastify plugin) given `undefined`, or the engine where its object belongs, fails at once with an
 * `OptionsError` naming the route, the argument and what to pass; given the right object, it mounts.
 *
 * ```ts
 * runRouteOptionsSuite([
 *   { route: 'scalekitWebhook', argument: 'receiver', takes: 'webhook receiver', mount: (value) => scalekitWebhook(value as never) },
 *   { route: 'scimRoutes', argument: 'server', takes: 'SCIM server', mount: (value) => scimRoutes(value as never) },
 * ]);
 * ```
 *
 * `mount` may throw, or return a promise that rejects (a Fastify plugin fails when the app loads).
 */
import {
  createEngine,
  createPortalLinkHandler,
  createScalekitWebhookReceiver,
  createScimServer,
  memoryStore,
  OptionsError,
  scimTokenAuthenticator,
} from '@org/scim-core';
import { describe, expect, it } from 'vitest';
import { generateWebhookSecret } from './signer.js';

/** What a route takes, and what its message says to pass. */
const TAKES = {
  'webhook receiver': 'the object createScalekitWebhookReceiver({ engine, secret }) returns',
  'SCIM server': 'the object createScimServer({ engine, authenticator }) returns',
  'portal-link handler': 'the object createPortalLinkHandler({ client, authorize }) returns',
} as const;

export interface RouteOptionsCase {
  /** The factory's name as the error names it: `scalekitWebhook`, `scimPlugin`. */
  route: string;
  /** The argument's path in the message: `receiver`, or `options.receiver` for a Fastify plugin. */
  argument: string;
  takes: keyof typeof TAKES;
  /** Mounts the route with `value` as that argument; throws, or rejects, when it refuses it. */
  mount(value: unknown): unknown;
}

/** The `OptionsError` that `mount(value)` threw or rejected with. */
async function refusal(mount: () => unknown): Promise<OptionsError> {
  let outcome: unknown;
  try {
    outcome = await mount();
  } catch (error) {
    if (error instanceof OptionsError) return error;
    throw error;
  }
  throw new Error(`expected an OptionsError, but the route mounted (${typeof outcome})`);
}

export function runRouteOptionsSuite(cases: readonly RouteOptionsCase[]): void {
  const engine = createEngine({ store: memoryStore() });
  const objects = {
    'webhook receiver': createScalekitWebhookReceiver({ engine, secret: generateWebhookSecret() }),
    'SCIM server': createScimServer({ engine, authenticator: scimTokenAuthenticator([]) }),
    'portal-link handler': createPortalLinkHandler<unknown>({
      client: { organization: { generatePortalLink: async () => ({ location: 'https://example.com' }) } },
      authorize: () => null,
    }),
  };

  describe.each(cases)('$route', ({ route, argument, takes, mount }) => {
    const expected = TAKES[takes];

    it(`refuses a missing ${argument}, saying what to pass`, async () => {
      const error = await refusal(() => mount(undefined));
      expect(error).toMatchObject({ factory: route, issues: [{ path: argument }] });
      expect(error.message).toBe(`${route}: ${argument} is missing: pass ${expected}`);
    });

    it('refuses the engine given in its place', async () => {
      expect((await refusal(() => mount(engine))).message).toBe(
        `${route}: ${argument} must be ${expected}, got a ProvisioningEngine (from createEngine())`,
      );
    });

    if (takes !== 'webhook receiver') {
      it('refuses the webhook receiver, which has a handle() of its own', async () => {
        expect((await refusal(() => mount(objects['webhook receiver']))).message).toMatch(
          new RegExp(`^${route}: ${argument.replace('.', '\\.')} must be `),
        );
      });
    }

    it(`mounts with ${takes === 'portal-link handler' ? 'a' : 'the'} ${takes}`, async () => {
      // What it returns (a middleware, a route handler) is the framework's business: only that it mounted.
      const mounted = (async () => {
        await mount(objects[takes]);
        return 'mounted';
      })();
      await expect(mounted).resolves.toBe('mounted');
    });
  });
}
