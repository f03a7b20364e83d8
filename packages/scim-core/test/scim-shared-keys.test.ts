/**
 * `eq` filters on keys several resources may share (a group's `displayName`, which need not be
 * unique, its `externalId`, a user's `externalId`), over real HTTP: every match is answered, in
 * `id` order, paged like any list, from the store's index (`findGroups`, `findUsers`) up to its
 * limit and by a scan beyond it. A store without the list methods answers the one row
 * `findGroup`/`findUser` finds, as before they existed.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryStore, type ProvisioningStore } from '../src/index.js';
import { type ScimHarness, startScimHttp } from './scim-http.js';

const harnesses: ScimHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((h) => h.close()));
});

async function start(store?: ProvisioningStore): Promise<ScimHarness> {
  const harness = await startScimHttp(store ? { store } : {});
  harnesses.push(harness);
  return harness;
}

const filter = (expression: string) => `filter=${encodeURIComponent(expression)}`;

async function createGroup(h: ScimHarness, displayName: string, externalId?: string): Promise<string> {
  const created = await h.scim('POST', '/Groups', {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
    displayName,
    ...(externalId !== undefined && { externalId }),
  });
  expect(created.status).toBe(201);
  return created.body.id;
}

describe('eq filters on shared keys', () => {
  it('answers every group of a displayName, case-insensitively, in id order, paged', async () => {
    const h = await start();
    const engineering = [
      await createGroup(h, 'Engineering'),
      await createGroup(h, 'Engineering'),
      await createGroup(h, 'ENGINEERING'),
    ].sort();
    await createGroup(h, 'Sales');

    const all = await h.scim('GET', `/Groups?${filter('displayName eq "engineering"')}`);
    expect(all.status).toBe(200);
    expect(all.body.totalResults).toBe(3);
    expect(all.body.Resources.map((r: { id: string }) => r.id)).toEqual(engineering);

    const second = await h.scim('GET', `/Groups?${filter('displayName eq "Engineering"')}&startIndex=2&count=1`);
    expect(second.body).toMatchObject({ totalResults: 3, startIndex: 2, itemsPerPage: 1 });
    expect(second.body.Resources.map((r: { id: string }) => r.id)).toEqual([engineering[1]]);

    const sorted = await h.scim(
      'GET',
      `/Groups?${filter('displayName eq "engineering"')}&sortBy=displayName&sortOrder=descending`,
    );
    // displayName sorts case-insensitively: the three are equal, so ascending id breaks the tie.
    expect(sorted.body.totalResults).toBe(3);
    expect(sorted.body.Resources.map((r: { id: string }) => r.id)).toEqual(engineering);

    expect((await h.scim('GET', `/Groups?${filter('displayName eq "Support"')}`)).body).toMatchObject({
      totalResults: 0,
      Resources: [],
    });
  });

  it('answers every group and every user sharing an externalId', async () => {
    const h = await start();
    const groups = [await createGroup(h, 'A', 'ext-g'), await createGroup(h, 'B', 'ext-g')].sort();
    await createGroup(h, 'C', 'EXT-G');
    const byExternal = await h.scim('GET', `/Groups?${filter('externalId eq "ext-g"')}`);
    expect(byExternal.body.totalResults).toBe(2);
    expect(byExternal.body.Resources.map((r: { id: string }) => r.id)).toEqual(groups);

    const users: string[] = [];
    for (const userName of ['ada@acme.test', 'grace@acme.test']) {
      const created = await h.scim('POST', '/Users', {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
        userName,
        externalId: '00u-shared',
      });
      expect(created.status).toBe(201);
      users.push(created.body.id);
    }
    const byUserExternal = await h.scim('GET', `/Users?${filter('externalId eq "00u-shared"')}`);
    expect(byUserExternal.body.totalResults).toBe(2);
    expect(byUserExternal.body.Resources.map((r: { id: string }) => r.id)).toEqual(users.sort());
  });

  it('counts past the lookup limit by scanning', async () => {
    const h = await start();
    const ids: string[] = [];
    for (let i = 0; i < 101; i++) ids.push(await createGroup(h, 'Everyone'));
    await createGroup(h, 'Someone');
    const page = await h.scim('GET', `/Groups?${filter('displayName eq "everyone"')}&count=200`);
    expect(page.body.totalResults).toBe(101);
    expect(page.body.Resources.map((r: { id: string }) => r.id)).toEqual(ids.sort());
  });

  it('answers the one row findGroup finds with a store that cannot list them', async () => {
    const inner = memoryStore();
    const hidden = new Set<PropertyKey>(['findGroups', 'findUsers']);
    const store = new Proxy(inner, {
      get: (target, key, receiver) => (hidden.has(key) ? undefined : Reflect.get(target, key, receiver)),
    });
    const h = await start(store);
    const ids = [await createGroup(h, 'Ops'), await createGroup(h, 'Ops')].sort();
    const found = await h.scim('GET', `/Groups?${filter('displayName eq "ops"')}`);
    expect(found.body.totalResults).toBe(1);
    expect(found.body.Resources.map((r: { id: string }) => r.id)).toEqual([ids[0]]);
  });

  it('answers as a scan would, for any names and any query (property)', async () => {
    const h = await start();
    // Few letters in either case, so names collide often and differ only by case.
    const name = fc.stringMatching(/^[abAB]{1,3}$/);
    const names = fc.array(name, { minLength: 1, maxLength: 12 });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(names, name, async (created, asked) => {
        const prefix = `r${run++}-`;
        const ids = new Map<string, string>();
        for (const n of created) ids.set(await createGroup(h, prefix + n), prefix + n);
        const expected = [...ids]
          .filter(([, displayName]) => displayName.toLowerCase() === (prefix + asked).toLowerCase())
          .map(([id]) => id)
          .sort();
        const answer = await h.scim('GET', `/Groups?${filter(`displayName eq "${prefix + asked}"`)}&count=50`);
        expect(answer.status).toBe(200);
        expect(answer.body.totalResults).toBe(expected.length);
        expect(answer.body.Resources.map((r: { id: string }) => r.id)).toEqual(expected);
      }),
      { numRuns: 30 },
    );
  });
});
