/**
 * Okta: its SCIM 2.0 provisioning flow, request by request as developer.okta.com's "SCIM 2.0
 * protocol reference" documents it, over real HTTP: lookup before create, create (with a password,
 * never stored), read, profile update by PUT, deactivation by PATCH and by PUT, duplicate create,
 * and group push with members.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ScimHarness, startScimHttp } from './scim-http.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

describe('Okta provisioning flow', () => {
  let h: ScimHarness;
  let userId = '';
  let groupId = '';
  beforeAll(async () => {
    h = await startScimHttp();
  });
  afterAll(() => h.close());

  const oktaUser = {
    schemas: [USER],
    userName: 'test.user@okta.local',
    name: { givenName: 'Test', familyName: 'User' },
    emails: [{ primary: true, value: 'test.user@okta.local', type: 'work' }],
    displayName: 'Test User',
    locale: 'en-US',
    externalId: '00ujl29u0le5T6Aj10h7',
    groups: [],
    password: '1mz050nq',
    active: true,
  };

  it('1. looks the user up by userName before creating it: none', async () => {
    const { status, body } = await h.scim(
      'GET',
      `/Users?filter=${encodeURIComponent('userName eq "test.user@okta.local"')}&startIndex=1&count=100`,
    );
    expect(status).toBe(200);
    expect(body).toEqual({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:ListResponse'],
      totalResults: 0,
      startIndex: 1,
      itemsPerPage: 0,
      Resources: [],
    });
  });

  it('2. creates the user: 201 with an id, the password neither stored nor answered', async () => {
    const { status, body } = await h.scim('POST', '/Users', oktaUser);
    expect(status).toBe(201);
    expect(body).toMatchObject({
      schemas: [USER],
      userName: 'test.user@okta.local',
      active: true,
      externalId: '00ujl29u0le5T6Aj10h7',
    });
    expect(body).not.toHaveProperty('password');
    expect(JSON.stringify(await h.engine.store.getUser('org_tenant', body.id))).not.toContain('1mz050nq');
    userId = body.id;
    expect(h.calls).toEqual(['userCreated test.user@okta.local']);
  });

  it('3. finds it by userName and reads it by id', async () => {
    const found = await h.scim(
      'GET',
      `/Users?filter=${encodeURIComponent('userName eq "test.user@okta.local"')}&startIndex=1&count=100`,
    );
    expect(found.body).toMatchObject({ totalResults: 1, Resources: [{ id: userId }] });
    expect((await h.scim('GET', `/Users/${userId}`)).body).toMatchObject({ id: userId, name: { givenName: 'Test' } });
  });

  it('4. refuses a second create with the same userName: 409 uniqueness', async () => {
    const { status, body } = await h.scim('POST', '/Users', oktaUser);
    expect(status).toBe(409);
    expect(body).toMatchObject({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'],
      scimType: 'uniqueness',
      status: '409',
    });
  });

  it('5. updates the profile with PUT', async () => {
    const { status, body } = await h.scim('PUT', `/Users/${userId}`, {
      ...oktaUser,
      id: userId,
      name: { givenName: 'Another', familyName: 'User' },
    });
    expect(status).toBe(200);
    expect(body.name).toEqual({ givenName: 'Another', familyName: 'User' });
    expect(h.calls.at(-1)).toBe('userUpdated test.user@okta.local');
  });

  it('6. deactivates with PATCH replace active=false, and reactivates and deactivates with PUT', async () => {
    const off = await h.scim('PATCH', `/Users/${userId}`, {
      schemas: [PATCH],
      Operations: [{ op: 'replace', value: { active: false } }],
    });
    expect(off.body.active).toBe(false);
    await h.scim('PUT', `/Users/${userId}`, { ...oktaUser, active: true });
    const offAgain = await h.scim('PUT', `/Users/${userId}`, { ...oktaUser, active: false });
    expect(offAgain.body.active).toBe(false);
    expect(h.calls.slice(-4)).toEqual([
      'userDeactivated test.user@okta.local',
      'userReactivated test.user@okta.local',
      'userUpdated test.user@okta.local', // the PUT also put the original name back
      'userDeactivated test.user@okta.local',
    ]);
  });

  it('7. pushes a group with members, renames it, adds and removes members, and deletes it', async () => {
    await h.scim('PUT', `/Users/${userId}`, { ...oktaUser, active: true });
    const pushed = await h.scim('POST', '/Groups', {
      schemas: [GROUP],
      displayName: 'Test SCIMv2',
      members: [{ value: userId, display: 'test.user@okta.local' }],
    });
    expect(pushed.status).toBe(201);
    groupId = pushed.body.id;
    expect(
      (
        await h.scim(
          'GET',
          `/Groups?filter=${encodeURIComponent('displayName eq "Test SCIMv2"')}&startIndex=1&count=100`,
        )
      ).body,
    ).toMatchObject({ totalResults: 1 });
    await h.scim('PATCH', `/Groups/${groupId}`, {
      schemas: [PATCH],
      Operations: [{ op: 'replace', value: { id: groupId, displayName: 'Test SCIMv2 renamed' } }],
    });
    await h.scim('PATCH', `/Groups/${groupId}`, {
      schemas: [PATCH],
      Operations: [{ op: 'remove', path: `members[value eq "${userId}"]` }],
    });
    const emptied = (await h.scim('GET', `/Groups/${groupId}`)).body;
    expect(emptied).toMatchObject({ displayName: 'Test SCIMv2 renamed' });
    // RFC 7643 §2.5: the last member gone, the group has no `members` key (not `[]`).
    expect(emptied).not.toHaveProperty('members');
    await h.scim('PATCH', `/Groups/${groupId}`, {
      schemas: [PATCH],
      Operations: [{ op: 'add', path: 'members', value: [{ value: userId, display: 'x' }] }],
    });
    expect((await h.scim('GET', `/Users/${userId}`)).body.groups).toEqual([
      expect.objectContaining({ value: groupId }),
    ]);
    expect((await h.scim('DELETE', `/Groups/${groupId}`)).status).toBe(204);
    expect(h.calls.filter((c) => c.startsWith('group') || c.startsWith('membership'))).toEqual([
      'groupCreated Test SCIMv2',
      'membershipAdded test.user@okta.local',
      'groupUpdated Test SCIMv2 renamed',
      'membershipRemoved test.user@okta.local',
      'membershipAdded test.user@okta.local',
      'membershipRemoved test.user@okta.local',
      'groupDeleted Test SCIMv2 renamed',
    ]);
  });

  it("cannot see or change this tenant's users with another tenant's token", async () => {
    for (const [method, path] of [
      ['GET', `/Users/${userId}`],
      ['PUT', `/Users/${userId}`],
      ['PATCH', `/Users/${userId}`],
      ['DELETE', `/Users/${userId}`],
    ] as const) {
      const body =
        method === 'PATCH'
          ? { schemas: [PATCH], Operations: [{ op: 'replace', value: { active: false } }] }
          : method === 'PUT'
            ? oktaUser
            : undefined;
      expect((await h.scim(method, path, body, h.otherToken)).status).toBe(404);
    }
    expect((await h.scim('GET', '/Users', undefined, h.otherToken)).body.totalResults).toBe(0);
    expect((await h.scim('GET', `/Users/${userId}`)).body.active).toBe(true);
  });
});
