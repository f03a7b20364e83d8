/**
 * Microsoft Entra ID: the requests its provisioning service sends (Microsoft's "Tutorial: Develop
 * and plan provisioning for a SCIM endpoint" and "Known issues and resolutions with SCIM 2.0
 * compliance"), over real HTTP, in both shapes: the default one (capitalised ops, `"False"` as a
 * string, path-less `Replace` with filtered keys, members removed by value) and the one sent with
 * the `aadOptscim062020` flag (lower-case ops, real booleans, value-filter paths).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ScimHarness, startScimHttp } from './scim-http.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

const createUser = {
  schemas: [USER, ENTERPRISE],
  externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
  userName: 'Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1',
  active: true,
  emails: [{ primary: true, type: 'work', value: 'Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com' }],
  meta: { resourceType: 'User' },
  name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
  roles: [],
};
const createGroup = {
  schemas: [GROUP],
  externalId: '8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159',
  displayName: 'displayName',
  meta: { resourceType: 'Group' },
};

const shapes = {
  default: {
    replace: 'Replace',
    add: 'Add',
    remove: 'Remove',
    inactive: 'False' as const,
    removeMember: (id: string) => ({ op: 'Remove', path: 'members', value: [{ $ref: null, value: id }] }),
  },
  aadOptscim062020: {
    replace: 'replace',
    add: 'add',
    remove: 'remove',
    inactive: false as const,
    removeMember: (id: string) => ({ op: 'remove', path: `members[value eq "${id}"]` }),
  },
};

for (const [shape, s] of Object.entries(shapes)) {
  describe(`Microsoft Entra ID (${shape})`, () => {
    let h: ScimHarness;
    beforeEach(async () => {
      h = await startScimHttp();
    });
    afterEach(() => h.close());

    it('creates a user after a lookup, updates multi- and single-valued attributes, and disables it', async () => {
      const filter = encodeURIComponent(`userName eq "${createUser.userName}"`);
      expect((await h.scim('GET', `/Users?filter=${filter}`)).body.totalResults).toBe(0);
      const created = await h.scim('POST', '/Users', createUser);
      expect(created.status).toBe(201);
      const id = created.body.id;
      expect(
        (await h.scim('GET', `/Users?filter=${encodeURIComponent(`externalId eq "${createUser.externalId}"`)}`)).body,
      ).toMatchObject({ totalResults: 1 });

      const multi = await h.scim('PATCH', `/Users/${id}`, {
        schemas: [PATCH],
        Operations: [
          { op: s.replace, path: 'emails[type eq "work"].value', value: 'updatedEmail@microsoft.com' },
          { op: s.replace, path: 'name.familyName', value: 'updatedFamilyName' },
        ],
      });
      expect(multi.body).toMatchObject({
        emails: [{ type: 'work', value: 'updatedEmail@microsoft.com' }],
        name: { familyName: 'updatedFamilyName' },
      });
      expect((await h.engine.store.getUser('org_tenant', id))?.email).toBe('updatedEmail@microsoft.com');

      const single = await h.scim('PATCH', `/Users/${id}`, {
        schemas: [PATCH],
        Operations: [{ op: s.replace, path: 'userName', value: '5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com' }],
      });
      expect(single.body.userName).toBe('5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com');

      const manager = await h.scim('PATCH', `/Users/${id}`, {
        schemas: [PATCH],
        Operations: [
          { op: s.add, path: `${ENTERPRISE}:manager`, value: { value: '2819c223-7f76-453a-919d-413861904646' } },
        ],
      });
      expect(manager.body[ENTERPRISE]).toEqual({ manager: { value: '2819c223-7f76-453a-919d-413861904646' } });

      const disabled = await h.scim('PATCH', `/Users/${id}`, {
        schemas: [PATCH],
        Operations: [{ op: s.replace, path: 'active', value: s.inactive }],
      });
      expect(disabled.body.active).toBe(false);
      expect(h.calls.at(-1)).toBe('userDeactivated 5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com');
      expect((await h.scim('DELETE', `/Users/${id}`)).status).toBe(204);
    });

    it('takes a path-less replace whose keys are attribute paths, filtered ones included', async () => {
      const id = (await h.scim('POST', '/Users', createUser)).body.id;
      const patched = await h.scim('PATCH', `/Users/${id}`, {
        schemas: [PATCH],
        Operations: [
          {
            op: s.replace,
            value: {
              'name.givenName': 'Grace',
              'emails[type eq "work"].value': 'grace@contoso.com',
              [`${ENTERPRISE}:department`]: 'Research',
              active: s.inactive,
            },
          },
        ],
      });
      expect(patched.body).toMatchObject({
        name: { givenName: 'Grace' },
        emails: [{ type: 'work', value: 'grace@contoso.com' }],
        [ENTERPRISE]: { department: 'Research' },
        active: false,
      });
    });

    it('creates a group, renames it, adds members and removes only the one named', async () => {
      const a = (await h.scim('POST', '/Users', createUser)).body.id;
      const b = (await h.scim('POST', '/Users', { ...createUser, userName: 'second@testuser.com', externalId: 'x2' }))
        .body.id;
      const group = await h.scim('POST', '/Groups', createGroup);
      expect(group.status).toBe(201);
      const gid = group.body.id;
      const byName = await h.scim(
        'GET',
        `/Groups?excludedAttributes=members&filter=${encodeURIComponent('displayName eq "displayName"')}`,
      );
      expect(byName.body).toMatchObject({ totalResults: 1, Resources: [{ id: gid }] });
      expect(byName.body.Resources[0]).not.toHaveProperty('members');

      await h.scim('PATCH', `/Groups/${gid}`, {
        schemas: [PATCH],
        Operations: [
          { op: s.replace, path: 'displayName', value: '1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName' },
        ],
      });
      await h.scim('PATCH', `/Groups/${gid}`, {
        schemas: [PATCH],
        Operations: [
          {
            op: s.add,
            path: 'members',
            value: [
              { $ref: null, value: a },
              { $ref: null, value: b },
            ],
          },
        ],
      });
      await h.scim('PATCH', `/Groups/${gid}`, { schemas: [PATCH], Operations: [s.removeMember(a)] });

      const after = await h.scim('GET', `/Groups/${gid}`);
      expect(after.body).toMatchObject({ displayName: '1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName' });
      expect(after.body.members.map((m: { value: string }) => m.value)).toEqual([b]);
      expect((await h.scim('DELETE', `/Groups/${gid}`)).status).toBe(204);
      expect((await h.scim('GET', `/Groups/${gid}`)).status).toBe(404);
    });
  });
}
