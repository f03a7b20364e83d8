/**
 * The SCIM server's /Users (issue 6 work in progress), through its Web-standard handler: Okta's
 * user lifecycle, Entra's PATCH shapes, errors as SCIM bodies, and tenants kept apart.
 */
import { describe, expect, it } from 'vitest';
import { createEngine, memoryStore } from '../src/index.js';
import { createScimServer } from '../src/scim/server.js';
import { generateScimToken, scimTokenAuthenticator } from '../src/scim/tokens.js';

/** A real `memoryStore()` that counts the calls made on it (not inside transactions), to show what a request reads. */
function countingStore() {
  const counts: Record<string, number> = {};
  const inner = memoryStore();
  const store = new Proxy(inner, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return (...args: unknown[]) => {
        counts[property] = (counts[property] ?? 0) + 1;
        return value.apply(target, args);
      };
    },
  });
  return {
    store,
    counts,
    reset: () => {
      for (const key of Object.keys(counts)) delete counts[key];
    },
  };
}

function setup() {
  const acme = generateScimToken();
  const globex = generateScimToken();
  const calls: string[] = [];
  const counting = countingStore();
  const engine = createEngine({
    store: counting.store,
    handlers: {
      userCreated: ({ user, event }) => void calls.push(`created ${user.userName} ${event.source}`),
      userUpdated: ({ user, changed }) => void calls.push(`updated ${user.userName} ${changed.join(',')}`),
      userDeactivated: ({ user, reason }) => void calls.push(`deactivated ${user.userName} ${reason}`),
      userReactivated: ({ user }) => void calls.push(`reactivated ${user.userName}`),
      groupCreated: ({ group }) => void calls.push(`group created ${group.displayName}`),
      groupUpdated: ({ group, changed }) => void calls.push(`group updated ${group.displayName} ${changed.join(',')}`),
      groupDeleted: ({ group }) => void calls.push(`group deleted ${group.displayName}`),
      membershipAdded: ({ user }) => void calls.push(`joined ${user.userName}`),
      membershipRemoved: ({ user }) => void calls.push(`left ${user.userName}`),
    },
  });
  const server = createScimServer({
    engine,
    authenticator: scimTokenAuthenticator([
      { organizationId: 'org_acme', tokenHash: acme.tokenHash },
      { organizationId: 'org_globex', tokenHash: globex.tokenHash },
    ]),
  });
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    token = acme.token,
    headers: Record<string, string> = {},
  ) => {
    const response = await server.handle(
      new Request(`https://app.example.com/scim/v2${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json', ...headers },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      }),
    );
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
  };
  return { call, calls, engine, globexToken: globex.token, counting };
}

const ada = {
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
  userName: 'ada@acme.test',
  name: { givenName: 'Ada', familyName: 'Lovelace' },
  emails: [{ primary: true, value: 'ada@acme.test', type: 'work' }],
  displayName: 'Ada Lovelace',
  locale: 'en-US',
  externalId: '00u1',
  active: true,
};

describe('SCIM /Users, as Okta provisions', () => {
  it('looks up, creates, finds, deactivates, reactivates and deletes a user through the app handlers', async () => {
    const { call, calls } = setup();
    const lookup = await call('GET', '/Users?filter=userName%20eq%20%22ada@acme.test%22&startIndex=1&count=100');
    expect(lookup.body).toMatchObject({ totalResults: 0, startIndex: 1, itemsPerPage: 0, Resources: [] });

    const created = await call('POST', '/Users', ada);
    expect(created.status).toBe(201);
    expect(created.headers.get('content-type')).toBe('application/scim+json');
    expect(created.body).toMatchObject({ userName: 'ada@acme.test', active: true, meta: { resourceType: 'User' } });
    expect(created.headers.get('location')).toBe(`https://app.example.com/scim/v2/Users/${created.body.id}`);
    expect(calls).toEqual(['created ada@acme.test scim']);

    const found = await call('GET', '/Users?filter=userName%20eq%20%22ADA@acme.test%22&startIndex=1&count=100');
    expect(found.body).toMatchObject({ totalResults: 1, Resources: [{ id: created.body.id }] });

    const duplicate = await call('POST', '/Users', ada);
    expect(duplicate).toMatchObject({ status: 409, body: { scimType: 'uniqueness', status: '409' } });

    const off = await call('PATCH', `/Users/${created.body.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', value: { active: false } }],
    });
    expect(off).toMatchObject({ status: 200, body: { active: false } });
    const on = await call('PUT', `/Users/${created.body.id}`, { ...ada, active: true });
    expect(on).toMatchObject({ status: 200, body: { active: true } });
    expect((await call('DELETE', `/Users/${created.body.id}`)).status).toBe(204);
    expect((await call('GET', `/Users/${created.body.id}`)).status).toBe(404);
    expect(calls).toEqual([
      'created ada@acme.test scim',
      'deactivated ada@acme.test inactive',
      'reactivated ada@acme.test',
      'deactivated ada@acme.test deleted',
    ]);
  });
});

describe('SCIM /Users, as Entra sends PATCH', () => {
  it('takes "False" and a work-email change by value path', async () => {
    const { call } = setup();
    const { body } = await call('POST', '/Users', ada);
    const patched = await call('PATCH', `/Users/${body.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [
        { op: 'Replace', path: 'emails[type eq "work"].value', value: 'ada@new.test' },
        { op: 'Replace', path: 'active', value: 'False' },
      ],
    });
    expect(patched.body).toMatchObject({ active: false, emails: [{ value: 'ada@new.test', type: 'work' }] });
  });
});

describe('SCIM errors and tenants', () => {
  it('answers SCIM error bodies, never a 500, for bad input', async () => {
    const { call } = setup();
    expect(await call('GET', '/Users?filter=userName%20eq')).toMatchObject({
      status: 400,
      body: { scimType: 'invalidFilter' },
    });
    expect(await call('POST', '/Users', { name: {} })).toMatchObject({
      status: 400,
      body: { scimType: 'invalidValue' },
    });
    expect(await call('PATCH', '/Users/nope', {})).toMatchObject({ status: 404 });
    expect(await call('GET', '/Users', undefined, 'wrong-token')).toMatchObject({ status: 401 });
  });

  it('refuses a write against a stale If-Match', async () => {
    const { call } = setup();
    const { body, headers } = await call('POST', '/Users', ada);
    expect(headers.get('etag')).toMatch(/^W\/"/);
    const stale = await call('PUT', `/Users/${body.id}`, ada, undefined, { 'if-match': 'W/"old"' });
    expect(stale.status).toBe(412);
    const fresh = await call('PUT', `/Users/${body.id}`, ada, undefined, { 'if-match': headers.get('etag') as string });
    expect(fresh.status).toBe(200);
  });

  it("never shows or changes another organization's users or groups, on any endpoint", async () => {
    const { call, calls, globexToken } = setup();
    const user = (await call('POST', '/Users', ada)).body;
    const group = (
      await call('POST', '/Groups', { displayName: 'Engineering', externalId: 'g-1', members: [{ value: user.id }] })
    ).body;
    const before = {
      user: (await call('GET', `/Users/${user.id}`)).body,
      group: (await call('GET', `/Groups/${group.id}`)).body,
    };
    const handled = calls.length;
    const patch = { schemas: [PATCH], Operations: [{ op: 'replace', path: 'active', value: false }] };
    const attempts: [string, string, unknown?][] = [
      ['GET', `/Users/${user.id}`],
      ['PUT', `/Users/${user.id}`, { ...ada, displayName: 'Mallory' }],
      ['PATCH', `/Users/${user.id}`, patch],
      ['DELETE', `/Users/${user.id}`],
      ['GET', `/Groups/${group.id}`],
      ['PUT', `/Groups/${group.id}`, { displayName: 'Owned', members: [] }],
      ['PATCH', `/Groups/${group.id}`, { schemas: [PATCH], Operations: [{ op: 'remove', path: 'members' }] }],
      ['DELETE', `/Groups/${group.id}`],
    ];
    for (const [method, path, body] of attempts) {
      const answer = await call(method, path, body, globexToken);
      expect(answer.status, `${method} ${path}`).toBe(404);
      // The error names nothing of the other tenant's resource beyond the id the caller sent.
      expect(JSON.stringify(answer.body)).not.toMatch(/ada@acme|Engineering|Lovelace/);
    }
    const lists = [
      '/Users',
      `/Users?filter=${encodeURIComponent('userName eq "ada@acme.test"')}`,
      `/Users?filter=${encodeURIComponent('externalId eq "00u1"')}`,
      `/Users?filter=${encodeURIComponent(`id eq "${user.id}"`)}`,
      `/Users?filter=${encodeURIComponent('displayName co "Ada"')}`,
      '/Groups',
      `/Groups?filter=${encodeURIComponent('displayName eq "Engineering"')}`,
      `/Groups?filter=${encodeURIComponent('externalId eq "g-1"')}`,
      `/Groups?filter=${encodeURIComponent(`members.value eq "${user.id}"`)}`,
    ];
    for (const path of lists) {
      expect((await call('GET', path, undefined, globexToken)).body, path).toMatchObject({
        totalResults: 0,
        Resources: [],
      });
    }
    // A create in the other tenant with the same names is its own resource, not a conflict.
    expect((await call('POST', '/Users', ada, globexToken)).status).toBe(201);
    expect(calls.slice(handled)).toEqual(['created ada@acme.test scim']);
    expect((await call('GET', `/Users/${user.id}`)).body).toEqual(before.user);
    expect((await call('GET', `/Groups/${group.id}`)).body).toEqual(before.group);
  });

  it('serves discovery', async () => {
    const { call } = setup();
    expect((await call('GET', '/ServiceProviderConfig')).body).toMatchObject({ patch: { supported: true } });
    expect((await call('GET', '/ResourceTypes')).body).toMatchObject({ totalResults: 2 });
    expect((await call('GET', '/Schemas/urn:ietf:params:scim:schemas:core:2.0:User')).body).toMatchObject({
      name: 'User',
    });
  });
});

const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

describe('SCIM /Groups', () => {
  it('pushes a group with members, renames it, moves members by PATCH and deletes it, all through the handlers', async () => {
    const { call, calls } = setup();
    const a = (await call('POST', '/Users', ada)).body;
    const b = (await call('POST', '/Users', { ...ada, userName: 'grace@acme.test', externalId: '00u2' })).body;
    calls.length = 0;

    const created = await call('POST', '/Groups', { displayName: 'Engineering', members: [{ value: a.id }] });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      displayName: 'Engineering',
      members: [{ value: a.id, display: 'Ada Lovelace' }],
    });
    const gid = created.body.id;
    expect(calls).toEqual(['group created Engineering', 'joined ada@acme.test']);

    // Okta renames with a path-less replace that repeats the id; Entra adds and removes members by value.
    await call('PATCH', `/Groups/${gid}`, {
      schemas: [PATCH],
      Operations: [{ op: 'replace', value: { id: gid, displayName: 'Eng' } }],
    });
    await call('PATCH', `/Groups/${gid}`, {
      schemas: [PATCH],
      Operations: [
        { op: 'Add', path: 'members', value: [{ value: b.id }] },
        { op: 'Remove', path: 'members', value: [{ value: a.id }] },
      ],
    });
    const read = await call('GET', `/Groups/${gid}`);
    expect(read.body.members).toEqual([expect.objectContaining({ value: b.id })]);
    expect((await call('GET', `/Users/${b.id}`)).body.groups).toEqual([
      expect.objectContaining({ value: gid, display: 'Eng' }),
    ]);
    expect(
      (await call('GET', `/Groups?filter=displayName%20eq%20%22eng%22&excludedAttributes=members`)).body,
    ).toMatchObject({
      totalResults: 1,
      Resources: [{ id: gid, displayName: 'Eng' }],
    });
    expect((await call('GET', `/Groups?excludedAttributes=members`)).body.Resources[0]).not.toHaveProperty('members');

    expect((await call('DELETE', `/Groups/${gid}`)).status).toBe(204);
    // RFC 7643 §2.5: a user in no group has no `groups` key, not an empty array.
    expect((await call('GET', `/Users/${b.id}`)).body).not.toHaveProperty('groups');
    expect(calls).toEqual([
      'group created Engineering',
      'joined ada@acme.test',
      'group updated Eng displayName',
      'joined grace@acme.test',
      'left ada@acme.test',
      'left grace@acme.test',
      'group deleted Eng',
    ]);
  });

  it('refuses a member that is not a user of the organization', async () => {
    const { call, globexToken } = setup();
    const other = (await call('POST', '/Users', ada, globexToken)).body;
    const refused = await call('POST', '/Groups', { displayName: 'X', members: [{ value: other.id }] });
    expect(refused).toMatchObject({ status: 400, body: { scimType: 'invalidValue' } });
  });
});

describe('SCIM lists', () => {
  it('pages with startIndex and count, sorts before paging, and projects attributes', async () => {
    const { call } = setup();
    for (const name of ['carol', 'alice', 'bob', 'dave']) {
      await call('POST', '/Users', { userName: `${name}@acme.test`, displayName: name });
    }
    const page = await call(
      'GET',
      '/Users?sortBy=userName&sortOrder=descending&startIndex=2&count=2&attributes=userName',
    );
    expect(page.body).toMatchObject({ totalResults: 4, startIndex: 2, itemsPerPage: 2 });
    expect(page.body.Resources.map((r: { userName: string }) => r.userName)).toEqual([
      'carol@acme.test',
      'bob@acme.test',
    ]);
    expect(Object.keys(page.body.Resources[0]).sort()).toEqual(['id', 'schemas', 'userName']);
    expect((await call('GET', '/Users?count=0')).body).toMatchObject({ totalResults: 4, itemsPerPage: 0 });
    expect((await call('GET', '/Users?filter=displayName%20sw%20%22b%22')).body).toMatchObject({ totalResults: 1 });
  });

  it("answers Okta's and Entra's lookups from the store's indexes and an unfiltered page without reading every row", async () => {
    const { call, counting } = setup();
    for (let i = 0; i < 30; i++) {
      await call('POST', '/Users', { userName: `user${String(i).padStart(2, '0')}@acme.test`, externalId: `ext-${i}` });
    }
    for (const name of ['Sales', 'Engineering', 'Support'])
      await call('POST', '/Groups', { displayName: name, externalId: `g-${name}` });
    const ids = (await call('GET', '/Users?sortBy=id&count=200')).body.Resources.map((r: { id: string }) => r.id);
    const reads = async (path: string) => {
      counting.reset();
      const { body } = await call('GET', path);
      return { body, counts: { ...counting.counts } };
    };

    const byName = await reads(
      `/Users?filter=${encodeURIComponent('userName eq "USER07@acme.test"')}&startIndex=1&count=100`,
    );
    expect(byName.body).toMatchObject({ totalResults: 1, Resources: [{ userName: 'user07@acme.test' }] });
    expect(byName.counts).toMatchObject({ findUsers: 1 });
    expect(byName.counts.listUsers).toBeUndefined();

    const byExternal = await reads(`/Users?filter=${encodeURIComponent('externalId eq "ext-3"')}`);
    expect(byExternal.body.Resources.map((r: { externalId: string }) => r.externalId)).toEqual(['ext-3']);
    expect(byExternal.counts.listUsers).toBeUndefined();
    // externalId is caseExact: the index does not match another case.
    expect((await reads(`/Users?filter=${encodeURIComponent('externalId eq "EXT-3"')}`)).body.totalResults).toBe(0);

    const group = await reads(`/Groups?filter=${encodeURIComponent('displayName eq "engineering"')}`);
    expect(group.body).toMatchObject({ totalResults: 1, Resources: [{ displayName: 'Engineering' }] });
    expect(group.counts).toMatchObject({ findGroups: 1 });
    expect(group.counts.listGroups).toBeUndefined();

    const page = await reads('/Users?startIndex=11&count=5');
    expect(page.body).toMatchObject({ totalResults: 30, startIndex: 11, itemsPerPage: 5 });
    expect(page.body.Resources.map((r: { id: string }) => r.id)).toEqual(ids.slice(10, 15));
    expect(page.counts).toMatchObject({ listUsers: 1, countUsers: 1 });

    const groups = await reads('/Groups?startIndex=2&count=1');
    expect(groups.body).toMatchObject({ totalResults: 3, itemsPerPage: 1 });
    expect(groups.counts).toMatchObject({ listGroups: 1, countGroups: 1 });
  });

  it('keeps meta.created across updates and moves meta.lastModified', async () => {
    const { call } = setup();
    const created = (await call('POST', '/Users', ada)).body;
    expect(created.meta.created).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(created.meta.lastModified).toBe(created.meta.created);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const patched = (
      await call('PATCH', `/Users/${created.id}`, {
        schemas: [PATCH],
        Operations: [{ op: 'replace', path: 'displayName', value: 'Countess' }],
      })
    ).body;
    expect(patched.meta.created).toBe(created.meta.created);
    expect(Date.parse(patched.meta.lastModified)).toBeGreaterThan(Date.parse(created.meta.created));
    const group = (await call('POST', '/Groups', { displayName: 'Ops' })).body;
    expect(group.meta.created).toBe(group.meta.lastModified);
  });
});

describe('SCIM server: failures reach onError', () => {
  const request = (token: string, method: string, path: string, body?: unknown) =>
    new Request(`https://app.example.com/scim/v2${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/scim+json' },
      ...(body !== undefined && { body: JSON.stringify(body) }),
    });

  it('passes the cause of a 5xx to onError (a handler that throws), and answers a retryable 500', async () => {
    const { token, tokenHash } = generateScimToken();
    const failures: { status: number; error?: unknown; method: string; path: string }[] = [];
    const boom = new Error('the app database is down');
    const server = createScimServer({
      engine: createEngine({
        store: memoryStore(),
        handlers: {
          userCreated: () => {
            throw boom;
          },
        },
      }),
      authenticator: scimTokenAuthenticator([{ organizationId: 'org_1', tokenHash }]),
      onError: (failure) => void failures.push(failure),
    });
    const response = await server.handle(
      request(token, 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'ada' }),
    );
    expect(response.status).toBe(500);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ status: 500, method: 'POST', path: '/scim/v2/Users' });
    expect(failures[0]?.error).toMatchObject({ cause: boom });
  });

  it('reports a 4xx to onError without an error object, and the query string never', async () => {
    const { token, tokenHash } = generateScimToken();
    const failures: { status: number; error?: unknown; path: string; scimType?: string }[] = [];
    const server = createScimServer({
      engine: createEngine({ store: memoryStore() }),
      authenticator: scimTokenAuthenticator([{ organizationId: 'org_1', tokenHash }]),
      onError: (failure) => void failures.push(failure),
    });
    const response = await server.handle(request(token, 'GET', '/Users?filter=constructor%20pr'));
    expect(response.status).toBe(400);
    expect(failures).toEqual([
      expect.objectContaining({ status: 400, scimType: 'invalidFilter', path: '/scim/v2/Users' }),
    ]);
    expect(failures[0]).not.toHaveProperty('error');
  });

  it('logs a 5xx with its cause by default', async () => {
    const { token, tokenHash } = generateScimToken();
    const logged: unknown[][] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => void logged.push(args);
    try {
      const server = createScimServer({
        engine: createEngine({
          store: memoryStore(),
          handlers: {
            userCreated: () => {
              throw new Error('boom');
            },
          },
        }),
        authenticator: scimTokenAuthenticator([{ organizationId: 'org_1', tokenHash }]),
      });
      await server.handle(
        request(token, 'POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: 'x' }),
      );
    } finally {
      console.error = original;
    }
    expect(logged).toHaveLength(1);
    expect(String(logged[0]?.[0])).toContain('SCIM POST /scim/v2/Users 500');
  });
});
