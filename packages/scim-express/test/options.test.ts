/** Each route factory refuses a missing or wrong argument at once, naming it and what to pass. */
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
import type { Request } from 'express';
import { describe, expect, it } from 'vitest';
import { adminPortalLink, scalekitWebhook, scimRouter } from '../src/index.js';

const engine = createEngine({ store: memoryStore() });
const receiver = createScalekitWebhookReceiver({ engine, secret: generateWebhookSecret() });
const server = createScimServer({ engine, authenticator: scimTokenAuthenticator([]) });
const links = createPortalLinkHandler<Request>({
  client: { organization: { generatePortalLink: async () => ({ location: 'https://example.com' }) } },
  authorize: () => null,
});
/** What a JavaScript caller can pass where TypeScript would refuse it. */
const bad = <T>(value: unknown): T => value as T;

function refusal(call: () => unknown): OptionsError {
  try {
    call();
  } catch (error) {
    if (error instanceof OptionsError) return error;
    throw error;
  }
  throw new Error('expected an OptionsError, but the call succeeded');
}

describe.each([
  {
    route: 'scalekitWebhook',
    mount: (value: unknown) => scalekitWebhook(bad(value)),
    good: receiver,
    argument: 'receiver',
    expected: 'the object createScalekitWebhookReceiver({ engine, secret }) returns',
  },
  {
    route: 'scimRouter',
    mount: (value: unknown) => scimRouter(bad(value)),
    good: server,
    argument: 'server',
    expected: 'the object createScimServer({ engine, authenticator }) returns',
  },
  {
    route: 'adminPortalLink',
    mount: (value: unknown) => adminPortalLink(bad(value)),
    good: links,
    argument: 'handler',
    expected: 'the object createPortalLinkHandler({ client, authorize }) returns',
  },
])('$route', ({ route, mount, good, argument, expected }) => {
  it(`refuses a missing ${argument}`, () => {
    const error = refusal(() => mount(undefined));
    expect(error).toMatchObject({ factory: route, issues: [{ path: argument }] });
    expect(error.message).toBe(`${route}: ${argument} is missing: pass ${expected}`);
  });

  it('refuses the engine given in its place', () => {
    expect(refusal(() => mount(engine)).message).toBe(
      `${route}: ${argument} must be ${expected}, got a ProvisioningEngine (from createEngine())`,
    );
  });

  it(`accepts ${expected.replace(' returns', '')}`, () => {
    expect(() => mount(good)).not.toThrow();
  });
});

it('scimRouter refuses the webhook receiver, which has a handle() of its own', () => {
  expect(refusal(() => scimRouter(bad(receiver))).message).toMatch(
    /^scimRouter: server must be the object createScimServer\(\{ engine, authenticator \}\) returns, got a webhook receiver/,
  );
});
