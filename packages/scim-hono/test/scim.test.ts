import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { createEngine, createScimServer, generateScimToken, memoryStore, scimTokenAuthenticator } from '@org/scim-core';
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { scimRoutes } from '../src/index.js';

const servers: { close: () => void }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

async function start() {
  const { token, tokenHash } = generateScimToken();
  const deactivated: string[] = [];
  const engine = createEngine({
    store: memoryStore(),
    handlers: { userDeactivated: ({ user }) => deactivated.push(user.userName ?? user.id) },
  });
  const server = createScimServer({
    engine,
    authenticator: scimTokenAuthenticator([{ organizationId: 'org_1', tokenHash }]),
  });
  const app = new Hono();
  app.all('/scim/v2/*', scimRoutes(server));
  const http = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
  servers.push(http);
  await new Promise((resolve) => http.once('listening', resolve));
  const base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/scim/v2`;
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
  return { scim, deactivated };
}

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

describe('scimRoutes over real HTTP', () => {
  it('creates, finds and deactivates a user; refuses a wrong token and an unknown path', async () => {
    const { scim, deactivated } = await start();
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
  });
});
