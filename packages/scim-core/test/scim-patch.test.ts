/**
 * SCIM PATCH on a resource: RFC 7644 §3.5.2, and the shapes Microsoft Entra ID and Okta send.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ScimError } from '../src/scim/errors.js';
import { applyPatch, PATCH_OP_SCHEMA, type PatchOperation, parsePatchRequest } from '../src/scim/patch.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const user = () => ({
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
  id: 'u1',
  userName: 'ada@example.com',
  active: true,
  name: { givenName: 'Ada', familyName: 'Lovelace' },
  emails: [{ value: 'ada@example.com', type: 'work', primary: true }],
});
const group = () => ({
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
  id: 'g1',
  displayName: 'Engineering',
  members: [{ value: 'u1' }, { value: 'u2' }, { value: 'u3' }],
});
const patch = (resource: Record<string, unknown>, ...ops: unknown[]) =>
  applyPatch(resource, parsePatchRequest({ schemas: [PATCH_OP_SCHEMA], Operations: ops }));

function scimError(run: () => unknown): ScimError {
  try {
    run();
  } catch (error) {
    if (error instanceof ScimError) return error;
    throw error;
  }
  throw new Error('expected a ScimError');
}

describe('PATCH as Microsoft Entra ID sends it', () => {
  it('takes capitalised ops and "False" as a boolean', () => {
    expect(patch(user(), { op: 'Replace', path: 'active', value: 'False' }).active).toBe(false);
    expect(patch(user(), { op: 'replace', value: { active: 'True' } }).active).toBe(true);
  });

  it('applies a path-less replace with dotted and URN-qualified keys', () => {
    const out = patch(user(), {
      op: 'Replace',
      value: {
        'name.givenName': 'Augusta',
        [`${ENTERPRISE}:department`]: 'Analytical Engines',
        [`${ENTERPRISE}:manager`]: { value: 'babbage' },
        displayName: 'Augusta Ada King',
      },
    });
    expect(out.name).toEqual({ givenName: 'Augusta', familyName: 'Lovelace' });
    expect(out.displayName).toBe('Augusta Ada King');
    expect(out[ENTERPRISE]).toEqual({ department: 'Analytical Engines', manager: { value: 'babbage' } });
    expect(out.schemas).toContain(ENTERPRISE);
  });

  it('removes only the members named by value, never all of them', () => {
    const out = patch(group(), { op: 'Remove', path: 'members', value: [{ value: 'u2' }] });
    expect(out.members).toEqual([{ value: 'u1' }, { value: 'u3' }]);
  });

  it('adds a work email when replacing emails[type eq "work"].value finds none (add-on-miss)', () => {
    const noWork = { ...user(), emails: [{ value: 'home@example.com', type: 'home' }] };
    const out = patch(noWork, { op: 'replace', path: 'emails[type eq "work"].value', value: 'ada@work.example' });
    expect(out.emails).toEqual([
      { value: 'home@example.com', type: 'home' },
      { type: 'work', value: 'ada@work.example' },
    ]);
  });

  it('replaces the matching email value when there is one', () => {
    const out = patch(user(), { op: 'Replace', path: 'emails[type eq "work"].value', value: 'new@example.com' });
    expect(out.emails).toEqual([{ value: 'new@example.com', type: 'work', primary: true }]);
  });

  it('adds members without duplicating one already there', () => {
    const out = patch(group(), { op: 'Add', path: 'members', value: [{ value: 'u3' }, { value: 'u4' }] });
    expect(out.members).toEqual([{ value: 'u1' }, { value: 'u2' }, { value: 'u3' }, { value: 'u4' }]);
  });
});

describe('PATCH as Okta sends it', () => {
  it('deactivates with replace of active in a value object', () => {
    expect(patch(user(), { op: 'replace', value: { active: false } }).active).toBe(false);
  });

  it('renames a group and replaces its members', () => {
    const out = patch(
      group(),
      { op: 'replace', value: { id: 'g1', displayName: 'Eng' } },
      { op: 'replace', path: 'members', value: [{ value: 'u9' }] },
    );
    expect(out).toMatchObject({ displayName: 'Eng', members: [{ value: 'u9' }] });
  });

  it('removes a member with a value filter in the path', () => {
    const out = patch(group(), { op: 'remove', path: 'members[value eq "u1"]' });
    expect(out.members).toEqual([{ value: 'u2' }, { value: 'u3' }]);
  });
});

describe('PATCH per RFC 7644', () => {
  it('removes an attribute and a sub-attribute', () => {
    const out = patch(user(), { op: 'remove', path: 'name.givenName' }, { op: 'remove', path: 'emails' });
    expect(out.name).toEqual({ familyName: 'Lovelace' });
    expect(out).not.toHaveProperty('emails');
  });

  it('is atomic: a failing operation leaves the resource untouched', () => {
    const before = user();
    const error = scimError(() =>
      applyPatch(before, [
        { op: 'replace', path: 'userName', value: 'changed' },
        { op: 'replace', path: 'id', value: 'hijack' },
      ]),
    );
    expect(error).toMatchObject({ status: 400, scimType: 'mutability' });
    expect(before).toEqual(user());
  });

  it.each([
    [{ schemas: ['nope'], Operations: [] }, 'invalidSyntax'],
    [{ schemas: [PATCH_OP_SCHEMA], Operations: [] }, 'invalidSyntax'],
    [{ schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'move', path: 'a' }] }, 'invalidSyntax'],
    [{ schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'add', path: 'a' }] }, 'invalidValue'],
    [{ schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'remove' }] }, 'noTarget'],
    [
      { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'replace', path: 'emails[type eq ]', value: 1 }] },
      'invalidPath',
    ],
    [
      { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'replace', path: 'emails[type ne "x"].value', value: 'a' }] },
      'noTarget',
    ],
    [{ schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'replace', path: 'active', value: 'maybe' }] }, 'invalidValue'],
    [{ schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'replace', path: 'a.b.c', value: 1 }] }, 'invalidPath'],
    [{ schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'add', path: 'meta', value: {} }] }, 'mutability'],
  ])('answers %j with %s', (body, scimType) => {
    const withEmails = { ...user(), emails: [{ value: 'x', type: 'x' }] };
    const error = scimError(() => applyPatch(withEmails, parsePatchRequest(body)));
    expect(error).toMatchObject({ status: 400, scimType });
  });

  it('never throws anything but a ScimError, whatever the body', () => {
    const op = fc.record(
      {
        op: fc.oneof(fc.constantFrom('add', 'Replace', 'remove', 'REMOVE'), fc.string()),
        path: fc.oneof(
          fc.constantFrom(
            'active',
            'emails[type eq "work"].value',
            'members',
            'name.givenName',
            'urn:x:y:z',
            'a[',
            ']',
          ),
          fc.string(),
        ),
        value: fc.jsonValue(),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(
        fc.oneof(fc.jsonValue(), fc.record({ schemas: fc.constant([PATCH_OP_SCHEMA]), Operations: fc.array(op) })),
        (body) => {
          try {
            applyPatch(user(), parsePatchRequest(body) as PatchOperation[]);
          } catch (error) {
            expect(error).toBeInstanceOf(ScimError);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });
});
