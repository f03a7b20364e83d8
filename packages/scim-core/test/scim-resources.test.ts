/** SCIM resources ↔ the normalized model: what handlers see of a SCIM user, and what a GET answers. */
import { describe, expect, it } from 'vitest';
import type { DirectoryUser } from '../src/index.js';
import { SCHEMAS } from '../src/scim/discovery.js';
import { ScimError } from '../src/scim/errors.js';
import { groupFromScim, groupToScim, userFromScim, userToScim } from '../src/scim/resources.js';

const meta = { baseUrl: 'https://app.example.com/scim/v2', version: 'abc', created: '2026-11-23T10:00:00Z' };
const input = { organizationId: 'org_1', id: 'u1', groups: [] };

// Shaped like Entra's default create request.
const entraUser = {
  schemas: [SCHEMAS.user, SCHEMAS.enterpriseUser],
  externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
  userName: 'Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1',
  active: 'True',
  emails: [{ primary: true, type: 'work', value: 'Test_User_fd0ea19b@testuser.com' }],
  meta: { resourceType: 'User' },
  name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
  roles: [],
  [SCHEMAS.enterpriseUser]: { department: 'Engineering', manager: { value: 'm1' } },
};

describe('userFromScim', () => {
  it('derives the normalized fields and keeps the resource whole', () => {
    const user = userFromScim(entraUser, input);
    expect(user).toMatchObject({
      id: 'u1',
      organizationId: 'org_1',
      userName: 'Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1',
      externalId: '0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef',
      email: 'Test_User_fd0ea19b@testuser.com',
      active: true,
      name: 'givenName familyName',
      givenName: 'givenName',
      familyName: 'familyName',
      groups: [],
      roles: [],
    });
    expect(user.attributes.scim).toMatchObject({ [SCHEMAS.enterpriseUser]: { department: 'Engineering' } });
    expect(user.attributes.scim).not.toHaveProperty('meta');
    expect(userFromScim({ ...entraUser, password: 't1meMa$heen' }, input).attributes.scim).not.toHaveProperty(
      'password',
    );
    expect(user.attributes.scim).not.toHaveProperty('schemas');
  });

  it('takes the primary email, else the work one, else the first', () => {
    const emails = (list: unknown[]) => userFromScim({ userName: 'a', emails: list }, input).email;
    expect(
      emails([
        { value: 'h', type: 'home' },
        { value: 'w', type: 'work' },
        { value: 'p', primary: true },
      ]),
    ).toBe('p');
    expect(
      emails([
        { value: 'h', type: 'home' },
        { value: 'w', type: 'work' },
      ]),
    ).toBe('w');
    expect(emails([{ value: 'h', type: 'home' }])).toBe('h');
  });

  it('refuses what is not a user, with a SCIM error', () => {
    const error = (body: unknown) => {
      try {
        userFromScim(body, input);
      } catch (caught) {
        return caught as ScimError;
      }
      throw new Error('expected an error');
    };
    expect(error([])).toMatchObject({ status: 400, scimType: 'invalidSyntax' });
    expect(error({ active: true })).toMatchObject({ status: 400, scimType: 'invalidValue' });
    expect(error({ userName: 'a', active: 'maybe' })).toMatchObject({ scimType: 'invalidValue' });
    expect(error({ userName: 7 })).toMatchObject({ scimType: 'invalidValue' });
  });
});

describe('userToScim', () => {
  it('answers what the IdP wrote, with id, groups, active and meta from the mirror', () => {
    const user = { ...userFromScim(entraUser, input), groups: [{ id: 'g1', name: 'Eng' }] };
    const resource = userToScim(user, meta);
    expect(resource).toMatchObject({
      schemas: [SCHEMAS.user, SCHEMAS.enterpriseUser],
      id: 'u1',
      userName: entraUser.userName,
      active: true,
      [SCHEMAS.enterpriseUser]: { department: 'Engineering' },
      groups: [{ value: 'g1', $ref: 'https://app.example.com/scim/v2/Groups/g1', display: 'Eng' }],
      meta: { resourceType: 'User', location: 'https://app.example.com/scim/v2/Users/u1', version: 'W/"abc"' },
    });
  });

  it('renders a user that came from Scalekit from the model', () => {
    const scalekitUser: DirectoryUser = {
      id: 'diruser_1',
      organizationId: 'org_1',
      userName: 'ada',
      email: 'ada@example.com',
      givenName: 'Ada',
      active: false,
      groups: [],
      roles: ['admin'],
      attributes: { department: 'R&D' },
      customAttributes: {},
    };
    expect(userToScim(scalekitUser, meta)).toMatchObject({
      userName: 'ada',
      active: false,
      name: { givenName: 'Ada' },
      emails: [{ value: 'ada@example.com', type: 'work', primary: true }],
      roles: [{ value: 'admin' }],
    });
  });
});

describe('groups', () => {
  it('reads a group with members, and renders it back', () => {
    const { group, memberIds } = groupFromScim(
      { displayName: 'Eng', externalId: 'okta-eng', members: [{ value: 'u1' }, { value: 'u2' }, { value: 'u1' }] },
      { organizationId: 'org_1', id: 'g1' },
    );
    expect(group).toEqual({
      id: 'g1',
      organizationId: 'org_1',
      displayName: 'Eng',
      externalId: 'okta-eng',
      origin: 'scim',
    });
    expect(memberIds).toEqual(['u1', 'u2']);
    expect(groupToScim(group, [{ id: 'u1', display: 'Ada' }], meta)).toMatchObject({
      schemas: [SCHEMAS.group],
      id: 'g1',
      displayName: 'Eng',
      members: [{ value: 'u1', type: 'User', display: 'Ada' }],
      meta: { resourceType: 'Group', version: 'W/"abc"' },
    });
  });

  it('refuses a group without a name or with members that have no value', () => {
    expect(() => groupFromScim({ members: [] }, { organizationId: 'o', id: 'g' })).toThrow(ScimError);
    expect(() => groupFromScim({ displayName: 'x', members: [{}] }, { organizationId: 'o', id: 'g' })).toThrow(/value/);
  });
});
