/**
 * What Microsoft Entra ID's provisioning service and Microsoft's SCIM validator send that RFC 7644
 * reads strictly, over real HTTP on the memory store: a value path followed by a sub-attribute
 * (`emails[type eq "work"].value eq "…"`), date-times with seven fractional digits and an offset,
 * `meta.created` / `meta.lastModified` ranges, unquoted values, lower-case endpoint names and a
 * trailing slash. What is unambiguous is accepted; the rest is a 400 `invalidFilter`. Every answer
 * is checked against RFC 7643 at the end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { allProblems, type InteropHarness, startInteropHttp } from './scim-rfc7643.js';

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

const list = (h: InteropHarness, path: string, filter: string) =>
  h.scim('GET', `${path}?filter=${encodeURIComponent(filter)}`);
const idsOf = (body: { Resources: { id: string }[] }) => body.Resources.map((r) => r.id);

describe('Microsoft Entra ID and its SCIM validator', () => {
  let h: InteropHarness;
  let clock = Date.parse('2015-10-10T21:38:21.000Z');
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    h = await startInteropHttp({ now: () => clock });
    const users = {
      // Created 2015-10-10T21:38:21.000Z, which is 14:38:21.000 at -07:00.
      work: { userName: 'Test_User_1', emails: [{ type: 'work', value: 'a@b.c', primary: true }] },
      // Created one second later; a@b.c is its home address, not its work one.
      home: {
        userName: 'OMalley',
        emails: [
          { type: 'home', value: 'a@b.c' },
          { type: 'work', value: 'other@b.c' },
        ],
      },
      none: { userName: 'Other_User' },
    };
    for (const [key, body] of Object.entries(users)) {
      const created = await h.scim('POST', '/Users', { schemas: [USER], ...body });
      expect(created.status).toBe(201);
      ids[key] = created.body.id;
      clock += 1000;
    }
    ids.group = (await h.scim('POST', '/Groups', { schemas: [GROUP], displayName: 'Sales' })).body.id;
  });
  afterAll(() => h.close());

  it('Entra: emails[type eq "work"].value eq … matches a user with a work email of that value, and no other', async () => {
    const found = await list(h, '/Users', 'emails[type eq "work"].value eq "A@B.C"');
    expect(found.status).toBe(200);
    expect(idsOf(found.body)).toEqual([ids.work]);
    // The same meaning as the value filter with both conditions inside the brackets.
    expect(idsOf((await list(h, '/Users', 'emails[type eq "work" and value eq "a@b.c"]')).body)).toEqual([ids.work]);
    // Any email with that value is a different question.
    expect(idsOf((await list(h, '/Users', 'emails.value eq "a@b.c"')).body).sort()).toEqual(
      [ids.work, ids.home].sort(),
    );
    expect((await list(h, '/Users', 'emails[type eq "work"].value pr')).body.totalResults).toBe(2);
    expect(idsOf((await list(h, '/Users', 'emails[type eq "home"].value ew "b.c"')).body)).toEqual([ids.home]);
  });

  it('Entra: an and with userName eq is still one index lookup, the rest checked on the row it finds', async () => {
    const store = h.engine.store;
    const original = store.listUsers.bind(store);
    let scans = 0;
    store.listUsers = (...args) => {
      scans += 1;
      return original(...args);
    };
    try {
      const hit = await list(h, '/Users', 'userName eq "test_user_1" and emails[type eq "work"].value eq "a@b.c"');
      expect(idsOf(hit.body)).toEqual([ids.work]);
      const miss = await list(h, '/Users', 'emails[type eq "work"].value eq "a@b.c" and userName eq "OMalley"');
      expect(miss.body.totalResults).toBe(0);
      expect(scans).toBe(0);
      await list(h, '/Users', 'emails[type eq "work"].value eq "a@b.c"');
      expect(scans).toBeGreaterThan(0);
    } finally {
      store.listUsers = original;
    }
  });

  it('Entra: date-times with seven fractional digits and an offset compare as instants, on meta.created and meta.lastModified', async () => {
    // 14:38:21.8617979-07:00 is 21:38:21.8617979Z: after the first user was created, before the second.
    const instant = '2015-10-10T14:38:21.8617979-07:00';
    expect(idsOf((await list(h, '/Users', `meta.created gt "${instant}"`)).body)).toEqual([ids.home, ids.none].sort());
    expect(idsOf((await list(h, '/Users', `meta.created lt "${instant}"`)).body)).toEqual([ids.work]);
    expect(idsOf((await list(h, '/Users', 'meta.created le "2015-10-10T14:38:21-07:00"')).body)).toEqual([ids.work]);
    expect(idsOf((await list(h, '/Users', 'meta.created ge "2015-10-10T21:38:22.0000000Z"')).body).length).toBe(2);
    expect(idsOf((await list(h, '/Users', 'meta.lastModified eq "2015-10-10T23:38:21.000+02:00"')).body)).toEqual([
      ids.work,
    ]);
    // Sub-millisecond precision is kept: .0000001 after the instant is after it.
    expect((await list(h, '/Users', 'meta.created gt "2015-10-10T21:38:21.0000001Z"')).body.totalResults).toBe(2);
    for (const bad of [
      'meta.created gt "yesterday"',
      'meta.lastModified lt "2015-10-10T14:38:21"',
      'meta.created gt 5',
    ]) {
      const answer = await list(h, '/Users', bad);
      expect([bad, answer.status, answer.body.scimType]).toEqual([bad, 400, 'invalidFilter']);
    }
  });

  it('Microsoft validator: an unquoted value that is not true, false, null or a number is a string', async () => {
    expect(idsOf((await list(h, '/Users', 'userName sw O')).body)).toEqual([ids.home, ids.none].sort());
    expect(idsOf((await list(h, '/Users', 'userName eq Test_User_1')).body)).toEqual([ids.work]);
    expect(idsOf((await list(h, '/Users', 'emails[type eq work].value eq a@b.c')).body)).toEqual([ids.work]);
    // A number stays a number: no userName is the number 1.
    expect((await list(h, '/Users', 'userName eq 1')).body.totalResults).toBe(0);
    for (const bad of ['userName eq and', 'userName eq pr', 'userName eq "a" or', 'userName eq O"x"']) {
      const answer = await list(h, '/Users', bad);
      expect([bad, answer.status, answer.body.scimType]).toEqual([bad, 400, 'invalidFilter']);
    }
  });

  it('Microsoft validator: lower-case endpoint names and a trailing slash name the same resources', async () => {
    for (const path of ['/users', '/USERS', '/Users/', '/users/']) {
      const answer = await h.scim('GET', `${path}?filter=${encodeURIComponent('userName eq "OMalley"')}`);
      expect([path, answer.status, idsOf(answer.body)]).toEqual([path, 200, [ids.home]]);
    }
    expect((await h.scim('GET', `/users/${ids.home}/`)).body.id).toBe(ids.home);
    expect((await h.scim('GET', `/groups/${ids.group}`)).body.displayName).toBe('Sales');
    expect((await h.scim('GET', '/groups/')).body.totalResults).toBe(1);
    expect((await h.scim('GET', '/serviceproviderconfig')).body.patch).toEqual({ supported: true });
    expect((await h.scim('GET', '/resourcetypes')).body.totalResults).toBe(2);
    expect((await h.scim('GET', '/schemas')).status).toBe(200);
    // Ids stay exact, and what is not one trailing slash names nothing.
    expect((await h.scim('GET', `/Users/${(ids.home as string).toUpperCase()}`)).status).toBe(404);
    expect((await h.scim('GET', '/Users//')).status).toBe(404);
    expect((await h.scim('GET', `/Users/${ids.home}//`)).status).toBe(404);
  });

  it('RFC 7643: every answer body this suite received validates', () => {
    expect(allProblems(h.answers)).toEqual([]);
  });
});
