import {
  createEngine,
  createScalekitWebhookReceiver,
  createScimServer,
  generateScimToken,
  memoryStore,
  scimTokenAuthenticator,
} from '@org/scim-core';
import { createEventFactory, deliverWebhook, generateWebhookSecret } from '@org/scim-testing';
import { runAdapterConformanceSuite } from '@org/scim-testing/conformance';
import { afterAll, expect, it } from 'vitest';
import { setReceiver, setScimServer, startFixture } from './next-server.js';

// One `next build` and one server for the whole file (two builds of one app must not race); each
// suite only swaps the receiver.
let server: ReturnType<typeof startFixture> | undefined;
const shared = () => {
  server ??= startFixture();
  return server;
};
afterAll(async () => {
  await (await server)?.close();
});

for (const [router, prefix] of [
  ['App Router route handler', ''],
  ['Pages Router API route', '/pages-router'],
] as const) {
  runAdapterConformanceSuite(`@org/scim-next, ${router}, under next build`, {
    globalBodyParser: false,
    async start({ receiver }) {
      setReceiver(receiver);
      const { url } = await shared();
      return { url: `${url}${prefix}`, close: () => {} };
    },
  });
}

it("answers 500 with the fix, not a misleading 401, when Next's body parser is left on for a Pages Router route", async () => {
  const secret = generateWebhookSecret();
  setReceiver(
    createScalekitWebhookReceiver({ engine: createEngine({ store: memoryStore() }), secret, onError: () => {} }),
  );
  const { url } = await shared();
  const event = createEventFactory().userCreated({ id: 'diruser_1' });
  const result = await deliverWebhook(`${url}/api/pages-webhook-parsed`, event, { secret });
  expect(result).toMatchObject({ status: 500, body: { error: { code: 'raw_body_unavailable' } } });
  expect((result.body as { error: { message: string } }).error.message).toContain('bodyParser: false');
});

it('serves the SCIM 2.0 server from an App Router catch-all route', async () => {
  const { token, tokenHash } = generateScimToken();
  const deactivated: string[] = [];
  const engine = createEngine({
    store: memoryStore(),
    handlers: { userDeactivated: ({ user }) => deactivated.push(user.userName ?? user.id) },
  });
  setScimServer(
    createScimServer({ engine, authenticator: scimTokenAuthenticator([{ organizationId: 'org_1', tokenHash }]) }),
  );
  const base = `${(await shared()).url}/scim/v2`;
  const scim = async (method: string, path: string, body?: unknown, bearer = token) => {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/scim+json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return {
      status: response.status,
      type: response.headers.get('content-type'),
      // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary SCIM JSON.
      body: text ? (JSON.parse(text) as any) : undefined,
    };
  };
  const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';
  const created = await scim('POST', '/Users', {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    userName: 'ada@example.com',
    active: true,
  });
  expect(created.status).toBe(201);
  expect(created.type).toContain('application/scim+json');
  const id = created.body.id as string;
  const found = await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "ada@example.com"')}`);
  expect(found.status).toBe(200);
  expect(found.body.Resources.map((u: { id: string }) => u.id)).toEqual([id]);
  const patched = await scim('PATCH', `/Users/${id}`, {
    schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
    Operations: [{ op: 'replace', path: 'active', value: false }],
  });
  expect(patched.status).toBe(200);
  expect(patched.body.active).toBe(false);
  expect(deactivated).toEqual(['ada@example.com']);
  const wrong = await scim('GET', '/Users', undefined, generateScimToken().token);
  expect(wrong).toMatchObject({ status: 401, body: { schemas: [ERROR], status: '401' } });
  const unknown = await scim('GET', '/Nope');
  expect(unknown).toMatchObject({ status: 404, body: { schemas: [ERROR], status: '404' } });
});
