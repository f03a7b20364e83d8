import type { AddressInfo } from 'node:net';
import { createEngine, createScimServer, generateScimToken, memoryStore, scimTokenAuthenticator } from '@org/scim-core';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { scimPlugin } from '../src/index.js';

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

async function start(prefix: string | undefined) {
  const { token, tokenHash } = generateScimToken();
  const deactivated: string[] = [];
  const engine = createEngine({
    store: memoryStore(),
    handlers: { userDeactivated: ({ user }) => deactivated.push(user.userName ?? user.id) },
  });
  const basePath = prefix ?? '/scim/v2';
  const server = createScimServer({
    engine,
    basePath,
    authenticator: scimTokenAuthenticator([{ organizationId: 'org_1', tokenHash }]),
  });
  const app = Fastify();
  await app.register(scimPlugin, { server, ...(prefix !== undefined && { prefix }) });
  // The app's own JSON parser still works outside the plugin's scope.
  app.post('/echo', async (request) => request.body);
  await app.listen({ port: 0, host: '127.0.0.1' });
  closers.push(() => app.close());
  const origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const base = `${origin}${basePath}`;
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
  return { scim, deactivated, origin };
}

describe.each([
  ['default path', undefined],
  ['custom prefix', '/tenant-scim'],
])('scimPlugin over real HTTP (%s)', (_name, prefix) => {
  it('creates, finds and deactivates a user; refuses a wrong token and an unknown path', async () => {
    const { scim, deactivated, origin } = await start(prefix);
    const created = await scim('POST', '/Users', { schemas: [USER], userName: 'ada@example.com', active: true });
    expect(created.status).toBe(201);
    expect(created.type).toContain('application/scim+json');
    const id = created.body.id as string;
    const found = await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "ada@example.com"')}`);
    expect(found.status).toBe(200);
    expect(found.body.Resources.map((u: { id: string }) => u.id)).toEqual([id]);
    const patched = await scim('PATCH', `/Users/${id}`, {
      schemas: [PATCH],
      Operations: [{ op: 'replace', path: 'active', value: false }],
    });
    expect(patched.status).toBe(200);
    expect(patched.body.active).toBe(false);
    expect(deactivated).toEqual(['ada@example.com']);
    const wrong = await scim('GET', '/Users', undefined, generateScimToken().token);
    expect(wrong).toMatchObject({ status: 401, body: { schemas: [ERROR], status: '401' } });
    const unknown = await scim('GET', '/Nope');
    expect(unknown).toMatchObject({ status: 404, body: { schemas: [ERROR], status: '404' } });
    const echo = await fetch(`${origin}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"a":1}',
    });
    expect(await echo.json()).toEqual({ a: 1 });
  });
});
