/**
 * Group membership PATCHes in the forms identity providers send, over real HTTP on the memory
 * store: Okta's Push Groups (up to 256 members in one operation), members given as bare ids, removal
 * by value filter, and one answer for every group PATCH: 200 with the group (RFC 7644 §3.5.2). Every
 * answer is checked against RFC 7643 at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_SCIM_LIMITS } from '../src/scim/limits.js';
import { allProblems, type InteropHarness, startInteropHttp } from './scim-rfc7643.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const LIMITS = 'urn:scim-sync:params:scim:schemas:extension:limits:1.0:ServiceProviderConfig';

const patch = (...Operations: unknown[]) => ({ schemas: [PATCH], Operations });
const memberIds = (body: { members?: { value: string }[] }) => (body.members ?? []).map((m) => m.value).sort();

describe('Okta Push Groups and members by bare id', () => {
  let h: InteropHarness;
  const users: string[] = [];
  beforeAll(async () => {
    h = await startInteropHttp();
    for (let i = 0; i < 260; i++) {
      const created = await h.scim('POST', '/Users', { schemas: [USER], userName: `user${i}@okta.test` });
      users.push(created.body.id);
    }
  });
  afterAll(() => h.close());

  it('Okta: Push Groups adds 256 members in one operation, and removes them by value filter', async () => {
    const group = (await h.scim('POST', '/Groups', { schemas: [GROUP], displayName: 'Push' })).body.id;
    const batch = users.slice(0, 256);
    const added = await h.scim(
      'PATCH',
      `/Groups/${group}`,
      patch({ op: 'add', path: 'members', value: batch.map((value) => ({ value })) }),
    );
    expect(added.status).toBe(200);
    expect(memberIds(added.body)).toEqual([...batch].sort());
    expect(h.calls.filter((c) => c.startsWith('membershipAdded'))).toHaveLength(256);
    const removed = await h.scim(
      'PATCH',
      `/Groups/${group}`,
      patch(
        { op: 'remove', path: `members[value eq "${batch[0]}"]` },
        { op: 'remove', path: `members[value eq "${batch[1]}"]` },
      ),
    );
    expect(removed.status).toBe(200);
    expect(memberIds(removed.body)).toEqual(batch.slice(2).sort());
  });

  it('Entra and Okta: a member given as a bare id, alone or in an array, is added, replaced and removed', async () => {
    const [a, b, c] = users as [string, string, string];
    const group = (await h.scim('POST', '/Groups', { schemas: [GROUP], displayName: 'Bare' })).body.id;
    const one = await h.scim('PATCH', `/Groups/${group}`, patch({ op: 'add', path: 'members', value: a }));
    expect([one.status, memberIds(one.body)]).toEqual([200, [a]]);
    const many = await h.scim('PATCH', `/Groups/${group}`, patch({ op: 'Add', path: 'members', value: [b, c] }));
    expect(memberIds(many.body)).toEqual([a, b, c].sort());
    const less = await h.scim('PATCH', `/Groups/${group}`, patch({ op: 'remove', path: 'members', value: [b] }));
    expect(memberIds(less.body)).toEqual([a, c].sort());
    const replaced = await h.scim('PATCH', `/Groups/${group}`, patch({ op: 'replace', path: 'members', value: [b] }));
    expect(memberIds(replaced.body)).toEqual([b]);
    const gone = await h.scim('PATCH', `/Groups/${group}`, patch({ op: 'remove', path: 'members', value: b }));
    expect(gone.status).toBe(200);
    expect(gone.body).not.toHaveProperty('members');
    // A bare id that names no user of the organization writes nothing.
    const before = h.calls.length;
    const unknown = await h.scim('PATCH', `/Groups/${group}`, patch({ op: 'add', path: 'members', value: ['nobody'] }));
    expect([unknown.status, unknown.body.scimType]).toEqual([400, 'invalidValue']);
    expect(h.calls.length).toBe(before);
  });

  it('answers every group PATCH 200 with the group, and a PATCH that changes nothing too', async () => {
    const group = (await h.scim('POST', '/Groups', { schemas: [GROUP], displayName: 'Same' })).body.id;
    for (const body of [
      patch({ op: 'replace', path: 'displayName', value: 'Same' }),
      patch({ op: 'remove', path: 'members' }),
      patch({ op: 'replace', value: { displayName: 'Renamed' } }),
    ]) {
      const answer = await h.scim('PATCH', `/Groups/${group}`, body);
      expect(answer.status).toBe(200);
      expect(answer.body).toMatchObject({ schemas: [GROUP], id: group });
    }
  });

  it('reports the per-operation value cap in ServiceProviderConfig', async () => {
    const config = (await h.scim('GET', '/ServiceProviderConfig')).body;
    expect(config[LIMITS].maxOperationValues).toBe(DEFAULT_SCIM_LIMITS.maxOperationValues);
    expect(DEFAULT_SCIM_LIMITS.maxOperationValues).toBeGreaterThanOrEqual(256);
  });

  it('RFC 7643: every answer body this suite received validates', () => {
    expect(allProblems(h.answers)).toEqual([]);
  });
});

describe('maxOperationValues, configured', () => {
  let h: InteropHarness;
  beforeAll(async () => {
    h = await startInteropHttp({ limits: { maxOperationValues: 3 } });
  });
  afterAll(() => h.close());

  it('refuses an operation with more values than the cap with 413, before writing anything', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      ids.push((await h.scim('POST', '/Users', { schemas: [USER], userName: `u${i}@okta.test` })).body.id);
    }
    const group = (await h.scim('POST', '/Groups', { schemas: [GROUP], displayName: 'Capped' })).body.id;
    const before = h.calls.length;
    const over = await h.scim('PATCH', `/Groups/${group}`, patch({ op: 'add', path: 'members', value: ids }));
    expect(over.status).toBe(413);
    expect(over.body.detail).toMatch(/at most 3 values/);
    const pathless = await h.scim('PATCH', `/Groups/${group}`, patch({ op: 'add', value: { members: ids } }));
    expect(pathless.status).toBe(413);
    expect(h.calls.length).toBe(before);
    expect((await h.scim('GET', `/Groups/${group}`)).body).not.toHaveProperty('members');
    const within = await h.scim(
      'PATCH',
      `/Groups/${group}`,
      patch({ op: 'add', path: 'members', value: ids.slice(0, 3) }),
    );
    expect(memberIds(within.body)).toEqual(ids.slice(0, 3).sort());
  });
});
