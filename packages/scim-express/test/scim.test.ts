import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { createEngine, createScimServer, generateScimToken, memoryStore, scimTokenAuthenticator } from '@org/scim-core';
import express from 'express';
import express4 from 'express4';
import { afterEach, describe, expect, it } from 'vitest';
import { scimRouter } from '../src/index.js';

const closers: (() => void)[] = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const ERROR = 'urn:ietf:params:scim:api:messages:2.0:Error';

async function start(framework: typeof express, parserFirst: boolean) {
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
  const app = framework();
  if (parserFirst) app.use(framework.json({ type: ['application/json', 'application/scim+json'] }));
  app.use('/scim/v2', scimRouter(server));
  const http = app.listen(0, '127.0.0.1');
  await once(http, 'listening');
  closers.push(() => {
    http.closeAllConnections();
    http.close();
  });
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
  return { scim, deactivated, base };
}

describe.each([
  ['Express 5', express, false],
  ['Express 4', express4 as unknown as typeof express, false],
  ['Express 5 after express.json()', express, true],
  ['Express 4 after express.json()', express4 as unknown as typeof express, true],
])('scimRouter over real HTTP (%s)', (_name, framework, parserFirst) => {
  it('creates, finds and deactivates a user; refuses a wrong token and an unknown path', async () => {
    const { scim, deactivated, base } = await start(framework, parserFirst);
    const created = await scim('POST', '/Users', { schemas: [USER], userName: 'zoë@example.com', active: true });
    expect(created.status).toBe(201);
    expect(created.type).toContain('application/scim+json');
    const id = created.body.id as string;
    expect(created.body.meta.location).toBe(`${base}/Users/${id}`);
    const found = await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "zoë@example.com"')}`);
    expect(found.status).toBe(200);
    expect(found.body.Resources.map((u: { id: string }) => u.id)).toEqual([id]);
    const patched = await scim('PATCH', `/Users/${id}`, {
      schemas: [PATCH],
      Operations: [{ op: 'replace', path: 'active', value: false }],
    });
    expect(patched.status).toBe(200);
    expect(patched.body.active).toBe(false);
    expect(deactivated).toEqual(['zoë@example.com']);
    const wrong = await scim('GET', '/Users', undefined, generateScimToken().token);
    expect(wrong).toMatchObject({ status: 401, body: { schemas: [ERROR], status: '401' } });
    const unknown = await scim('GET', '/Nope');
    expect(unknown).toMatchObject({ status: 404, body: { schemas: [ERROR], status: '404' } });
  });
});

it('streams the body so the SCIM server refuses one over its cap with 413, without buffering it whole', async () => {
  const { token, tokenHash } = generateScimToken();
  const server = createScimServer({
    engine: createEngine({ store: memoryStore() }),
    authenticator: scimTokenAuthenticator([{ organizationId: 'org_1', tokenHash }]),
    maxBodyBytes: 64 * 1024,
  });
  const app = express();
  app.use('/scim/v2', scimRouter(server));
  const http = app.listen(0, '127.0.0.1');
  await once(http, 'listening');
  closers.push(() => {
    http.closeAllConnections();
    http.close();
  });
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      sent += 1;
      if (sent > 4096) controller.close();
      else controller.enqueue(new Uint8Array(16 * 1024).fill(0x20));
    },
  });
  const response = await fetch(`http://127.0.0.1:${(http.address() as AddressInfo).port}/scim/v2/Users`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
    body,
    duplex: 'half',
  } as RequestInit).catch((error: unknown) => error);
  if (response instanceof Response) {
    expect(response.status).toBe(413);
    expect(((await response.json()) as { schemas: string[] }).schemas).toEqual([ERROR]);
  }
  expect(sent).toBeLessThan(4096);
});
