/**
 * The SCIM mount conformance suite: one set of tests, over real HTTP on 127.0.0.1, that every
 * framework adapter runs. An adapter provides a harness that starts an app with the SCIM 2.0 server
 * mounted at `basePath`; the suite owns the server, the engine and store behind it, the handlers
 * (recording what they were called with) and two organizations' bearer tokens.
 *
 * ```ts
 * runScimMountConformanceSuite('express 5', {
 *   start: async ({ server, basePath, globalBodyParser }) => {
 *     const app = express();
 *     if (globalBodyParser) app.use(express.json({ type: ['application/json', 'application/scim+json'] }));
 *     app.use(basePath, scimRouter(server));
 *     const http = app.listen(0, '127.0.0.1');
 *     await once(http, 'listening');
 *     return { url: `http://127.0.0.1:${http.address().port}`, close: () => http.close() };
 *   },
 * });
 * ```
 */
import {
  createEngine,
  createScimServer,
  generateScimToken,
  memoryStore,
  SCIM_ERROR_SCHEMA,
  type ScimServer,
  scimTokenAuthenticator,
} from '@org/scim-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { recordingHandlers } from './recording-handlers.js';
import { parseBody, sendStreaming } from './streaming-request.js';

export interface ScimMountApp {
  /** Origin, e.g. `http://127.0.0.1:4321`; the SCIM server answers under `<url><basePath>`. */
  url: string;
  close(): void | Promise<void>;
}

export interface ScimMountHarness {
  /**
   * Starts an app on 127.0.0.1 with the adapter mounting `server` at `basePath` for every method.
   * With `globalBodyParser`, the app also mounts the framework's usual app-wide body parser for JSON
   * (before the SCIM mount, as apps do), so the adapter must cope with a body already read.
   */
  start(options: { server: ScimServer; basePath: string; globalBodyParser: boolean }): Promise<ScimMountApp>;
  /** Where the harness mounts the server, and the server's `basePath`. Default `/scim/v2`. */
  basePath?: string;
  /** False for frameworks without an app-wide body parser (Next.js route handlers). Default true. */
  globalBodyParser?: boolean;
}

/** The body cap the suite configures on the SCIM server. */
export const SCIM_MOUNT_MAX_BODY_BYTES = 64 * 1024;

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const SCIM_JSON = 'application/scim+json';

interface ScimAnswer {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or the text when it is not JSON, or undefined when empty. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary SCIM JSON.
  body: any;
}

/** Asserts a SCIM error answer: the status, the SCIM content type and an RFC 7644 §3.12 body. */
function expectScimError(
  answer: { status: number; contentType: string | undefined | null; body: unknown },
  status: number,
  scimType?: string,
) {
  expect(answer.status, `status (body: ${JSON.stringify(answer.body)})`).toBe(status);
  expect(answer.contentType, 'a SCIM error, not the framework’s own error page').toContain(SCIM_JSON);
  expect(answer.body).toMatchObject({
    schemas: [SCIM_ERROR_SCHEMA],
    status: String(status),
    ...(scimType !== undefined && { scimType }),
  });
}

const scimError = (answer: ScimAnswer) => ({
  status: answer.status,
  contentType: answer.headers.get('content-type'),
  body: answer.body,
});

/** Registers the suite with vitest under `describe(name)`. */
export function runScimMountConformanceSuite(name: string, harness: ScimMountHarness): void {
  const basePath = harness.basePath ?? '/scim/v2';
  const acme = generateScimToken();
  const globex = generateScimToken();

  /** Each test gets a fresh engine, store and server behind the app's one mounted server. */
  let current: ScimServer;
  let calls: string[] = [];
  const server: ScimServer = {
    handle: (request) => current.handle(request),
    respond: (request) => current.respond(request),
  };
  function fresh() {
    calls = [];
    const handlers = recordingHandlers((handler, arg) => {
      const subject = arg.user?.userName ?? arg.group?.displayName ?? '';
      calls.push([handler, subject, arg.reason].filter(Boolean).join(' '));
    });
    current = createScimServer({
      engine: createEngine({ store: memoryStore(), handlers }),
      authenticator: scimTokenAuthenticator([
        { organizationId: 'org_acme', tokenHash: acme.tokenHash },
        { organizationId: 'org_globex', tokenHash: globex.tokenHash },
      ]),
      basePath,
      maxBodyBytes: SCIM_MOUNT_MAX_BODY_BYTES,
    });
  }

  /** The tests, against an app started with or without the global body parser. */
  function conformance(globalBodyParser: boolean) {
    let app: ScimMountApp;
    let base: string;
    beforeAll(async () => {
      fresh();
      app = await harness.start({ server, basePath, globalBodyParser });
      base = `${app.url}${basePath}`;
    });
    afterAll(async () => {
      await app?.close();
    });
    beforeEach(fresh);

    async function scim(
      method: string,
      path: string,
      options: { body?: unknown; token?: string | null; headers?: Record<string, string> } = {},
    ): Promise<ScimAnswer> {
      const token = options.token === undefined ? acme.token : options.token;
      const response = await fetch(`${base}${path}`, {
        method,
        headers: {
          accept: SCIM_JSON,
          'content-type': SCIM_JSON,
          ...(token !== null && { authorization: `Bearer ${token}` }),
          ...options.headers,
        },
        ...(options.body !== undefined && {
          body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
        }),
      });
      return { status: response.status, headers: response.headers, body: parseBody(await response.text()) };
    }

    async function createUser(userName: string, extra: Record<string, unknown> = {}) {
      const created = await scim('POST', '/Users', { body: { schemas: [USER], userName, active: true, ...extra } });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      return created;
    }

    it('serves discovery as application/scim+json', async () => {
      const config = await scim('GET', '/ServiceProviderConfig');
      expect(config.status).toBe(200);
      expect(config.headers.get('content-type')).toContain(SCIM_JSON);
      expect(config.body).toMatchObject({ patch: { supported: true }, filter: { supported: true } });
      expect((await scim('GET', '/ResourceTypes')).body).toMatchObject({ totalResults: 2 });
      // A schema id is a URN: its colons must reach the server as one path segment.
      expect((await scim('GET', `/Schemas/${USER}`)).body).toMatchObject({ id: USER, name: 'User' });
    });

    it('creates a user: 201 with Location and ETag, non-ASCII names byte-exact', async () => {
      const displayName = 'Zoë Łukasz-Ødegård 李小龍 🚀';
      const created = await scim('POST', '/Users', {
        body: { schemas: [USER], userName: 'zoë@example.com', displayName, active: true },
        headers: { 'content-type': `${SCIM_JSON}; charset=utf-8` },
      });
      expect(created.status).toBe(201);
      expect(created.headers.get('content-type')).toContain(SCIM_JSON);
      const id = created.body.id as string;
      expect(created.headers.get('location')).toBe(`${base}/Users/${id}`);
      expect(created.body.meta.location).toBe(`${base}/Users/${id}`);
      expect(created.headers.get('etag')).toMatch(/^W\/".+"$/);
      expect(created.body).toMatchObject({ userName: 'zoë@example.com', displayName, active: true });
      expect(calls).toEqual(['userCreated zoë@example.com']);
      expect((await scim('GET', `/Users/${id}`)).body).toMatchObject({ id, displayName });
    });

    it('finds the user with a userName eq filter', async () => {
      const { body } = await createUser('ada@example.com');
      await createUser('grace@example.com');
      const found = await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "ADA@example.com"')}`);
      expect(found.status).toBe(200);
      expect(found.body).toMatchObject({ totalResults: 1, Resources: [{ id: body.id, userName: 'ada@example.com' }] });
    });

    it('hands the server the query string with its encoded characters intact', async () => {
      const { body } = await createUser('a+b@x.com');
      await createUser('a b@x.com');
      const found = await scim('GET', '/Users?filter=userName%20eq%20%22a%2Bb%40x.com%22&startIndex=1&count=10');
      expect(found.status).toBe(200);
      expect(found.body).toMatchObject({ totalResults: 1, Resources: [{ id: body.id, userName: 'a+b@x.com' }] });
    });

    it('deactivates a user on Entra’s PATCH (capitalised Replace, "False") through the handler', async () => {
      const { body } = await createUser('ada@example.com');
      const patched = await scim('PATCH', `/Users/${body.id}`, {
        body: { schemas: [PATCH], Operations: [{ op: 'Replace', path: 'active', value: 'False' }] },
      });
      expect(patched.status).toBe(200);
      expect(patched.body.active).toBe(false);
      expect(calls).toEqual(['userCreated ada@example.com', 'userDeactivated ada@example.com inactive']);
    });

    it('replaces a user with PUT', async () => {
      const { body } = await createUser('ada@example.com');
      const replaced = await scim('PUT', `/Users/${body.id}`, {
        body: { schemas: [USER], userName: 'ada@example.com', displayName: 'Ada Lovelace', active: true },
      });
      expect(replaced.status).toBe(200);
      expect(replaced.body).toMatchObject({ id: body.id, displayName: 'Ada Lovelace' });
      expect(replaced.headers.get('etag')).toMatch(/^W\/".+"$/);
      expect(calls).toEqual(['userCreated ada@example.com', 'userUpdated ada@example.com']);
    });

    it('deletes a user: 204 without a body, then 404', async () => {
      const { body } = await createUser('ada@example.com');
      const deleted = await scim('DELETE', `/Users/${body.id}`);
      expect(deleted).toMatchObject({ status: 204, body: undefined });
      expectScimError(scimError(await scim('GET', `/Users/${body.id}`)), 404);
      expect(calls).toEqual(['userCreated ada@example.com', 'userDeactivated ada@example.com deleted']);
    });

    it('creates a group with members and removes one by value, as Entra does', async () => {
      const ada = (await createUser('ada@example.com')).body;
      const grace = (await createUser('grace@example.com')).body;
      calls.length = 0;
      const created = await scim('POST', '/Groups', {
        body: { displayName: 'Engineering', members: [{ value: ada.id }, { value: grace.id }] },
      });
      expect(created.status).toBe(201);
      expect(created.headers.get('location')).toBe(`${base}/Groups/${created.body.id}`);
      const gid = created.body.id as string;
      const removed = await scim('PATCH', `/Groups/${gid}`, {
        body: { schemas: [PATCH], Operations: [{ op: 'Remove', path: 'members', value: [{ value: ada.id }] }] },
      });
      expect(removed.status).toBe(200);
      expect((await scim('GET', `/Groups/${gid}`)).body.members).toEqual([
        expect.objectContaining({ value: grace.id }),
      ]);
      expect(calls).toEqual([
        'groupCreated Engineering',
        'membershipAdded ada@example.com',
        'membershipAdded grace@example.com',
        'membershipRemoved ada@example.com',
      ]);
    });

    it('refuses a taken userName with 409 uniqueness', async () => {
      await createUser('ada@example.com');
      const duplicate = await scim('POST', '/Users', { body: { schemas: [USER], userName: 'ada@example.com' } });
      expectScimError(scimError(duplicate), 409, 'uniqueness');
    });

    it('refuses a write against a stale If-Match with 412, and takes the current ETag', async () => {
      const created = await createUser('ada@example.com');
      const user = { schemas: [USER], userName: 'ada@example.com', displayName: 'Ada' };
      const stale = await scim('PUT', `/Users/${created.body.id}`, {
        body: user,
        headers: { 'if-match': 'W/"stale"' },
      });
      expectScimError(scimError(stale), 412);
      const etag = created.headers.get('etag') as string;
      const fresh = await scim('PUT', `/Users/${created.body.id}`, { body: user, headers: { 'if-match': etag } });
      expect(fresh.status).toBe(200);
    });

    it('answers a body over the cap with a 413 SCIM error, Content-Length declared', async () => {
      const body = Buffer.from(
        JSON.stringify({ schemas: [USER], userName: 'big@example.com', nickName: 'x'.repeat(1024 * 1024) }),
      );
      const answer = await sendStreaming(
        `${base}/Users`,
        'POST',
        { authorization: `Bearer ${acme.token}`, 'content-type': SCIM_JSON, 'content-length': String(body.length) },
        { chunk: body, total: body.length },
      );
      expectScimError(answer, 413);
      expect(calls).toEqual([]);
    });

    it('answers a body just over the cap with a 413 SCIM error', async () => {
      const body = JSON.stringify({
        schemas: [USER],
        userName: 'big@example.com',
        nickName: 'x'.repeat(SCIM_MOUNT_MAX_BODY_BYTES),
      });
      expectScimError(scimError(await scim('POST', '/Users', { body })), 413);
      expect(calls).toEqual([]);
    });

    it('answers a chunked body over the cap with a 413 SCIM error while reading it', async () => {
      const total = 50 * 1024 * 1024;
      const answer = await sendStreaming(
        `${base}/Users`,
        'POST',
        { authorization: `Bearer ${acme.token}`, 'content-type': SCIM_JSON },
        { chunk: Buffer.alloc(64 * 1024, 0x20), total },
      );
      expectScimError(answer, 413);
      // The cap is 64 KiB; what the client got to write beyond it sat in socket buffers, not in the app.
      if (!globalBodyParser) expect(answer.bytesWritten).toBeLessThan(16 * 1024 * 1024);
      // Up to 16 MiB through loopback sockets: seconds on a loaded machine, past vitest's default 5 s.
    }, 30_000);

    it.each([SCIM_JSON, 'application/json'])(
      'answers malformed JSON (%s) with a 400 invalidSyntax SCIM error',
      async (type) => {
        const answer = await scim('POST', '/Users', {
          body: '{"userName": "ada@example.com", ',
          headers: { 'content-type': type },
        });
        expectScimError(scimError(answer), 400, 'invalidSyntax');
        expect(calls).toEqual([]);
      },
    );

    it('refuses a wrong or missing bearer token with a 401 SCIM error', async () => {
      expectScimError(scimError(await scim('GET', '/Users', { token: generateScimToken().token })), 401);
      expectScimError(scimError(await scim('GET', '/Users', { token: null })), 401);
      const write = await scim('POST', '/Users', {
        body: { schemas: [USER], userName: 'x@example.com' },
        token: 'wrong',
      });
      expectScimError(scimError(write), 401);
      expect(calls).toEqual([]);
    });

    it('answers 404 to another organization’s token on the first organization’s user', async () => {
      const { body } = await createUser('ada@example.com');
      const other = { token: globex.token };
      expectScimError(scimError(await scim('GET', `/Users/${body.id}`, other)), 404);
      const patch = { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] };
      expectScimError(scimError(await scim('PATCH', `/Users/${body.id}`, { ...other, body: patch })), 404);
      expectScimError(scimError(await scim('DELETE', `/Users/${body.id}`, other)), 404);
      expect((await scim('GET', '/Users', other)).body).toMatchObject({ totalResults: 0 });
      expect((await scim('GET', `/Users/${body.id}`)).status).toBe(200);
      expect(calls).toEqual(['userCreated ada@example.com']);
    });

    it('answers an unknown path with a 404 SCIM error', async () => {
      expectScimError(scimError(await scim('GET', '/Nope')), 404);
      expectScimError(scimError(await scim('GET', '/Users/some-id/extra')), 404);
    });

    it('answers a method a resource does not allow with 405, a SCIM error naming the allowed ones, and HEAD as GET without a body', async () => {
      const put = await scim('PUT', '/Users', { body: { schemas: [USER], userName: 'x@example.com' } });
      expectScimError(scimError(put), 405);
      expect(put.headers.get('allow')).toBe('GET, HEAD, POST');
      const del = await scim('DELETE', '/Groups');
      expectScimError(scimError(del), 405);
      expect(del.headers.get('allow')).toBe('GET, HEAD, POST');
      // HEAD reaches the server through every framework: GET's status and headers, no body.
      const created = await scim('POST', '/Users', { body: { schemas: [USER], userName: 'head@example.com' } });
      const head = await scim('HEAD', `/Users/${created.body.id}`);
      expect(head).toMatchObject({ status: 200, body: undefined });
      expect(head.headers.get('etag')).toBe(created.headers.get('etag'));
      expect(head.headers.get('content-type')).toContain(SCIM_JSON);
      expect(await scim('HEAD', '/Users/no-such-user')).toMatchObject({ status: 404, body: undefined });
    });
  }

  describe(`SCIM mount conformance: ${name}`, () => conformance(false));
  if (harness.globalBodyParser !== false) {
    describe(`SCIM mount conformance: ${name}, after the framework’s usual app-wide body parser`, () =>
      conformance(true));
  }
}
