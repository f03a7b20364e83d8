/**
 * The SCIM server's /Users (issue 6 work in progress), through its Web-standard handler: Okta's
 * user lifecycle, Entra's PATCH shapes, errors as SCIM bodies, and tenants kept apart.
 */
import { describe, expect, it } from 'vitest';
import { createEngine, memoryStore } from '../src/index.js';
import { createScimServer } from '../src/scim/server.js';
import { generateScimToken, scimTokenAuthenticator } from '../src/scim/tokens.js';

function setup() {
  const acme = generateScimToken();
  const globex = generateScimToken();
  const calls: string[] = [];
  const engine = createEngine({
    store: memoryStore(),
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
  return { call, calls, engine, globexToken: globex.token };
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

  it("never shows or changes another organization's users", async () => {
    const { call, globexToken } = setup();
    const { body } = await call('POST', '/Users', ada);
    expect((await call('GET', `/Users/${body.id}`, undefined, globexToken)).status).toBe(404);
    expect((await call('DELETE', `/Users/${body.id}`, undefined, globexToken)).status).toBe(404);
    expect((await call('GET', '/Users', undefined, globexToken)).body).toMatchObject({ totalResults: 0 });
    expect((await call('GET', `/Users/${body.id}`)).status).toBe(200);
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
    expect((await call('GET', `/Users/${b.id}`)).body.groups).toEqual([]);
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
    expect(Object.keys(page.body.Resources[0]).sort()).toEqual(['id', 'meta', 'schemas', 'userName']);
    expect((await call('GET', '/Users?count=0')).body).toMatchObject({ totalResults: 4, itemsPerPage: 0 });
    expect((await call('GET', '/Users?filter=displayName%20sw%20%22b%22')).body).toMatchObject({ totalResults: 1 });
  });
});
