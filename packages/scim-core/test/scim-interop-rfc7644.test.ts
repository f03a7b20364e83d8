/**
 * RFC 7644 and RFC 7643 over real HTTP on the memory store: `POST /.search` on `/Users`, `/Groups`
 * and the root (§3.4.3), what PATCH answers (§3.5.2), `attributes` on any answer (§3.9), and answer
 * bodies that validate against RFC 7643 (no empty multi-valued attribute, member types, `schemas`
 * naming exactly the extensions a resource holds). Every answer the suite receives is checked by
 * the RFC 7643 checker at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  allProblems,
  answerProblems,
  type InteropHarness,
  resourceProblems,
  startInteropHttp,
} from './scim-rfc7643.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const ACME = 'urn:ietf:params:scim:schemas:extension:acme:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const SEARCH = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';

const search = (body: Record<string, unknown>) => ({ schemas: [SEARCH], ...body });

describe('RFC 7643 checker (the test helper)', () => {
  it('finds what a non-conforming resource gets wrong, so the suites that use it can fail', () => {
    const good = { schemas: [GROUP], id: 'g1', displayName: 'Eng', members: [{ value: 'u1', type: 'User' }] };
    expect(resourceProblems(good)).toEqual([]);
    expect(resourceProblems({ ...good, members: [] })).toEqual([
      'resource.members is an empty multi-valued attribute (RFC 7643 §2.5)',
    ]);
    expect(resourceProblems({ ...good, members: [{ value: 'u1', type: 'user' }] })).toEqual([
      'resource.members[0].type is "user", not "User" or "Group"',
    ]);
    expect(resourceProblems({ schemas: [GROUP], id: 'g1' })).toEqual(['resource.displayName is required']);
    const user = { schemas: [USER, ENTERPRISE], id: 'u1', userName: 'ada', active: 'true' };
    expect(resourceProblems(user)).toEqual([
      'resource.active is not a boolean',
      `resource.schemas names ${ENTERPRISE}, which it does not hold`,
    ]);
    expect(resourceProblems({ schemas: [USER], id: 'u1', userName: 'ada', [ENTERPRISE]: { department: 'R' } })).toEqual(
      [`resource holds ${ENTERPRISE} but its schemas do not name it`],
    );
    expect(
      answerProblems(200, { schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'], Resources: [] }),
    ).toContain("a ListResponse's totalResults is not an integer");
  });
});

describe('RFC 7644 over HTTP', () => {
  let h: InteropHarness;
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    h = await startInteropHttp({
      maxResults: 50,
      maxBodyBytes: 4096,
      schemaExtensions: [{ id: ACME, name: 'Acme', attributes: [{ name: 'badge' }] }],
    });
    for (const [key, body] of Object.entries({
      ada: {
        schemas: [USER],
        userName: 'ada@acme.test',
        displayName: 'Ada',
        emails: [{ value: 'ada@acme.test', type: 'work' }],
      },
      bob: {
        schemas: [USER, ENTERPRISE],
        userName: 'bob@acme.test',
        displayName: 'Bob',
        [ENTERPRISE]: { department: 'R&D' },
      },
      cy: { schemas: [USER, ACME], userName: 'cy@acme.test', displayName: 'Cy', roles: [], [ACME]: { badge: '7' } },
    })) {
      const created = await h.scim('POST', '/Users', body);
      expect(created.status).toBe(201);
      ids[key] = created.body.id;
    }
    for (const name of ['Admins', 'Builders']) {
      const created = await h.scim('POST', '/Groups', { schemas: [GROUP], displayName: name });
      ids[name] = created.body.id;
    }
  });
  afterAll(() => h.close());

  it('RFC 7644 §3.4.3 POST /Users/.search: filter, sortBy, sortOrder, startIndex, count and attributes from the body', async () => {
    const found = await h.scim(
      'POST',
      '/Users/.search',
      search({
        filter: 'userName sw "b" or userName sw "c"',
        sortBy: 'userName',
        sortOrder: 'descending',
        startIndex: 1,
        count: 10,
        attributes: ['userName'],
      }),
    );
    expect(found.status).toBe(200);
    expect(found.headers.get('content-type')).toContain('application/scim+json');
    expect(found.body).toMatchObject({ totalResults: 2, startIndex: 1, itemsPerPage: 2 });
    expect(found.body.Resources).toEqual([
      { schemas: [USER], id: ids.cy, userName: 'cy@acme.test' },
      { schemas: [USER], id: ids.bob, userName: 'bob@acme.test' },
    ]);
    const page = await h.scim(
      'POST',
      '/users/.search',
      search({ startIndex: 2, count: 1, excludedAttributes: 'meta' }),
    );
    expect(page.body).toMatchObject({ totalResults: 3, startIndex: 2, itemsPerPage: 1 });
    expect(page.body.Resources[0]).not.toHaveProperty('meta');
    // count is capped at maxResults, as a GET's is.
    expect((await h.scim('POST', '/Users/.search', search({ count: 500 }))).body.itemsPerPage).toBe(3);
  });

  it('RFC 7644 §3.4.3 POST /Groups/.search answers Groups only', async () => {
    const found = await h.scim('POST', '/Groups/.search', search({ filter: 'displayName eq "builders"' }));
    expect(found.body).toMatchObject({ totalResults: 1, Resources: [{ id: ids.Builders, schemas: [GROUP] }] });
  });

  it('RFC 7644 §3.4.3 POST /.search at the root: Users then Groups, each resource with its own schemas', async () => {
    const all = await h.scim('POST', '/.search', search({}));
    expect(all.body.totalResults).toBe(5);
    expect(all.body.Resources.map((r: { schemas: string[] }) => r.schemas[0])).toEqual([
      USER,
      USER,
      USER,
      GROUP,
      GROUP,
    ]);
    expect(all.body.Resources.find((r: { id: string }) => r.id === ids.bob).schemas).toEqual([USER, ENTERPRISE]);
    expect(all.body.Resources.find((r: { id: string }) => r.id === ids.cy).schemas).toEqual([USER, ACME]);
    // startIndex counts through both types.
    const straddling = await h.scim('POST', '/.search', search({ startIndex: 3, count: 2 }));
    expect(straddling.body).toMatchObject({ totalResults: 5, startIndex: 3, itemsPerPage: 2 });
    expect(straddling.body.Resources.map((r: { schemas: string[] }) => r.schemas[0])).toEqual([USER, GROUP]);
    // An attribute one type lacks has no value there: userName matches no group, members no user.
    const mixed = await h.scim(
      'POST',
      '/.search',
      search({ filter: 'userName eq "ada@acme.test" or displayName eq "Admins"' }),
    );
    expect(mixed.body.Resources.map((r: { id: string }) => r.id)).toEqual([ids.ada, ids.Admins]);
    // Sorted across both types by displayName (Ada, Admins, Bob, Builders, Cy).
    const sorted = await h.scim(
      'POST',
      '/.search',
      search({ sortBy: 'displayName', count: 4, attributes: ['displayName'] }),
    );
    expect(sorted.body.Resources.map((r: { displayName: string }) => r.displayName)).toEqual([
      'Ada',
      'Admins',
      'Bob',
      'Builders',
    ]);
    const descending = await h.scim(
      'POST',
      '/.search',
      search({ sortBy: 'displayName', sortOrder: 'descending', startIndex: 2, count: 2 }),
    );
    expect(descending.body.Resources.map((r: { displayName: string }) => r.displayName)).toEqual(['Builders', 'Bob']);
    // A type-qualified name reaches only that type.
    const qualified = await h.scim('POST', '/.search', search({ filter: `${GROUP}:displayName sw "a"` }));
    expect(qualified.body.Resources.map((r: { id: string }) => r.id)).toEqual([ids.Admins]);
  });

  it('RFC 7644 §3.4.3 a malformed search body is 400 invalidSyntax; a bad filter 400 invalidFilter; nothing else answers', async () => {
    const cases: [unknown, string][] = [
      ['not json', 'invalidSyntax'],
      [[], 'invalidSyntax'],
      [{ filter: 'userName pr' }, 'invalidSyntax'],
      [search({ count: '10' }), 'invalidSyntax'],
      [search({ startIndex: 1.5 }), 'invalidSyntax'],
      [search({ sortOrder: 'up' }), 'invalidSyntax'],
      [search({ attributes: [1] }), 'invalidSyntax'],
      [search({ filter: 42 }), 'invalidSyntax'],
      [search({ filter: 'userName eq' }), 'invalidFilter'],
      [search({ filter: 'nosuch eq "x"' }), 'invalidFilter'],
      [search({ sortBy: 'nosuch' }), 'invalidValue'],
      [search({ sortBy: '__proto__' }), 'invalidValue'],
      [search({ filter: 'constructor pr' }), 'invalidFilter'],
      [search({ filter: 'emails[__proto__ pr]' }), 'invalidFilter'],
      ['{"schemas":["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],"__proto__":{"count":0}}', 'invalidSyntax'],
    ];
    for (const [body, scimType] of cases) {
      for (const path of ['/Users/.search', '/.search']) {
        const answer = await h.scim('POST', path, body);
        expect([path, answer.status, answer.body.scimType]).toEqual([path, 400, scimType]);
      }
    }
    // Names that are no attribute select nothing, and reach no prototype.
    const projected = await h.scim(
      'POST',
      '/.search',
      search({ attributes: ['__proto__', 'constructor', 'displayName'] }),
    );
    expect(projected.status).toBe(200);
    expect(Object.keys(projected.body.Resources[0]).sort()).toEqual(['displayName', 'id', 'schemas']);
    expect(Object.getOwnPropertyNames(Object.prototype)).not.toContain('count');
    // Filtered attributes no searched type declares are a mistake at the root too.
    expect((await h.scim('POST', '/.search', search({ filter: 'nosuch eq "x"' }))).body.scimType).toBe('invalidFilter');
    // The body is capped like any other.
    expect((await h.scim('POST', '/.search', search({ filter: `userName eq "${'x'.repeat(5000)}"` }))).status).toBe(
      413,
    );
    // Only POST searches.
    expect((await h.scim('GET', '/.search')).status).toBe(405);
    expect((await h.scim('GET', '/Users/.search')).status).toBe(405);
  });

  it('RFC 7644 §3.5.2 PATCH of a group answers 200 with the group, shaped by attributes and excludedAttributes', async () => {
    const add = { schemas: [PATCH], Operations: [{ op: 'add', path: 'members', value: [{ value: ids.ada }] }] };
    const full = await h.scim('PATCH', `/Groups/${ids.Admins}`, add);
    expect(full.status).toBe(200);
    expect(full.body).toMatchObject({
      id: ids.Admins,
      displayName: 'Admins',
      members: [{ value: ids.ada, type: 'User' }],
    });
    const lean = await h.scim('PATCH', `/Groups/${ids.Admins}?excludedAttributes=members`, {
      schemas: [PATCH],
      Operations: [{ op: 'add', path: 'members', value: [{ value: ids.bob }] }],
    });
    expect(lean.status).toBe(200);
    expect(lean.body).not.toHaveProperty('members');
    expect(lean.body).toMatchObject({ id: ids.Admins, displayName: 'Admins' });
    const values = await h.scim('GET', `/Groups/${ids.Admins}?attributes=members.value`);
    // RFC 7644 §3.9: a sub-attribute selects only itself; id and schemas are always returned, meta
    // (returned by default, RFC 7643 §3.1) only when asked for. Members are listed in id order.
    const members = [ids.ada, ids.bob].sort().map((value) => ({ value }));
    expect(values.body).toEqual({ schemas: [GROUP], id: ids.Admins, members });
    const versioned = await h.scim('GET', `/Groups/${ids.Admins}?attributes=displayName,meta.version`);
    expect(versioned.body).toEqual({
      schemas: [GROUP],
      id: ids.Admins,
      displayName: 'Admins',
      meta: { version: versioned.headers.get('etag') },
    });
    const user = await h.scim('PATCH', `/Users/${ids.ada}?attributes=displayName`, {
      schemas: [PATCH],
      Operations: [{ op: 'replace', path: 'displayName', value: 'Ada L.' }],
    });
    expect(user.body).toEqual({ schemas: [USER], id: ids.ada, displayName: 'Ada L.' });
  });

  it('RFC 7643 §2.5 an empty multi-valued attribute is left out: the last member gone, a group has no members key', async () => {
    const emptied = await h.scim('PATCH', `/Groups/${ids.Admins}`, {
      schemas: [PATCH],
      Operations: [{ op: 'remove', path: 'members' }],
    });
    expect(emptied.status).toBe(200);
    expect(emptied.body).not.toHaveProperty('members');
    expect((await h.scim('GET', `/Groups/${ids.Admins}`)).body).not.toHaveProperty('members');
    // Cy was created with "roles": [] and belongs to no group.
    const cy = (await h.scim('GET', `/Users/${ids.cy}`)).body;
    expect(cy).not.toHaveProperty('roles');
    expect(cy).not.toHaveProperty('groups');
  });

  it('RFC 7643 §3 schemas names exactly the extensions a user holds', async () => {
    expect((await h.scim('GET', `/Users/${ids.ada}`)).body.schemas).toEqual([USER]);
    expect((await h.scim('GET', `/Users/${ids.bob}`)).body.schemas).toEqual([USER, ENTERPRISE]);
    const dropped = await h.scim('PATCH', `/Users/${ids.bob}`, {
      schemas: [PATCH],
      Operations: [{ op: 'remove', path: `${ENTERPRISE}:department` }],
    });
    expect(dropped.body.schemas).toEqual([USER]);
    expect(dropped.body).not.toHaveProperty(ENTERPRISE);
    const added = await h.scim('PATCH', `/Users/${ids.ada}`, {
      schemas: [PATCH],
      Operations: [{ op: 'add', path: `${ACME}:badge`, value: '9' }],
    });
    expect(added.body.schemas).toEqual([USER, ACME]);
    // Projected away, an extension leaves schemas too.
    expect((await h.scim('GET', `/Users/${ids.ada}?attributes=userName`)).body.schemas).toEqual([USER]);
    expect((await h.scim('GET', `/Users/${ids.cy}?excludedAttributes=${ACME}:badge`)).body.schemas).toEqual([USER]);
  });

  it('RFC 7643: every answer body this suite received validates', () => {
    expect(h.answers.length).toBeGreaterThan(40);
    expect(allProblems(h.answers, { extensions: [ACME] })).toEqual([]);
  });
});
