/**
 * The SCIM server remembers a GET list's parsed parameters per query string, and a rendered user and
 * its JSON text per stored snapshot. Over real HTTP, with two tenants asking the same queries and
 * changing the same names: every answer matches a model of what each tenant wrote, never an older
 * rendering and never the other tenant's.
 */
import { request } from 'node:http';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ScimHarness, startScimHttp } from './scim-http.js';

const NAMES = ['ada@x.test', 'bob@x.test', 'cy@x.test'] as const;
const TENANTS = ['tenant', 'other'] as const;
type Tenant = (typeof TENANTS)[number];

interface ModelUser {
  id: string;
  displayName: string;
  active: boolean;
}

type Step =
  | { kind: 'write'; tenant: Tenant; name: string; displayName: string; active: boolean }
  | { kind: 'read'; tenant: Tenant; name: string; query: 'filter' | 'filter-projected' | 'page' };

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({
    kind: fc.constant('write' as const),
    tenant: fc.constantFrom(...TENANTS),
    name: fc.constantFrom(...NAMES),
    displayName: fc.constantFrom('One', 'Two', 'Three'),
    active: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('read' as const),
    tenant: fc.constantFrom(...TENANTS),
    name: fc.constantFrom(...NAMES),
    query: fc.constantFrom('filter' as const, 'filter-projected' as const, 'page' as const),
  }),
);

let http: ScimHarness;
beforeEach(async () => {
  http = await startScimHttp();
});
afterEach(async () => {
  await http.close();
});

describe('SCIM answers served from the server caches', () => {
  it('match what each tenant wrote, in any order of writes and repeated reads', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), async (steps) => {
        // Each run names its users apart, so runs on one server never see each other's.
        const prefix = `r${run++}-`;
        const model = new Map<Tenant, Map<string, ModelUser>>(TENANTS.map((t) => [t, new Map()]));
        const tokenOf = (tenant: Tenant) => (tenant === 'tenant' ? http.token : http.otherToken);
        for (const s of steps) {
          const users = model.get(s.tenant) as Map<string, ModelUser>;
          const userName = `${prefix}${s.name}`;
          const known = users.get(userName);
          if (s.kind === 'write') {
            const body = {
              schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
              userName,
              displayName: s.displayName,
              active: s.active,
            };
            const answer = known
              ? await http.scim('PUT', `/Users/${known.id}`, body, tokenOf(s.tenant))
              : await http.scim('POST', '/Users', body, tokenOf(s.tenant));
            expect(answer.status).toBe(known ? 200 : 201);
            users.set(userName, { id: answer.body.id, displayName: s.displayName, active: s.active });
            continue;
          }
          const filter = encodeURIComponent(`userName eq "${userName}"`);
          if (s.query === 'page') {
            const page = await http.scim(
              'GET',
              `/Users?filter=${encodeURIComponent(`userName sw "${prefix}"`)}&sortBy=userName`,
              undefined,
              tokenOf(s.tenant),
            );
            expect(page.status).toBe(200);
            const expected = [...users.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
            expect(page.body.totalResults).toBe(expected.length);
            expect(
              page.body.Resources.map((r: { userName: string; displayName: string; active: boolean }) => [
                r.userName,
                r.displayName,
                r.active,
              ]),
            ).toEqual(expected.map(([name, u]) => [name, u.displayName, u.active]));
            continue;
          }
          const projected = s.query === 'filter-projected';
          const answer = await http.scim(
            'GET',
            `/Users?filter=${filter}${projected ? '&attributes=displayName' : ''}`,
            undefined,
            tokenOf(s.tenant),
          );
          expect(answer.status).toBe(200);
          expect(answer.body.totalResults).toBe(known ? 1 : 0);
          if (!known) {
            expect(answer.body.Resources ?? []).toEqual([]);
            continue;
          }
          const [resource] = answer.body.Resources;
          expect(resource.id).toBe(known.id);
          expect(resource.displayName).toBe(known.displayName);
          if (projected) {
            expect(resource.active).toBeUndefined();
            expect(resource.userName).toBeUndefined();
          } else {
            expect(resource.active).toBe(known.active);
            // The list's copy and the resource's own answer agree, version included.
            const own = await http.scim('GET', `/Users/${known.id}`, undefined, tokenOf(s.tenant));
            expect(own.body).toEqual(resource);
          }
        }
      }),
      { numRuns: 25 },
    );
  });

  it('renders each answer for the host it was asked on, one after the other', async () => {
    const created = await http.scim('POST', '/Users', {
      schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
      userName: 'hosted@x.test',
    });
    const url = new URL(`${http.base}/Users?filter=${encodeURIComponent('userName eq "hosted@x.test"')}`);
    const ask = (host: string) =>
      new Promise<{ Resources: { meta: { location: string } }[] }>((resolve, reject) => {
        const req = request(url, { headers: { host, authorization: `Bearer ${http.token}` } }, (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => resolve(JSON.parse(text)));
        });
        req.on('error', reject);
        req.end();
      });
    for (const host of ['a.example.test', 'b.example.test', 'a.example.test']) {
      const answer = await ask(host);
      expect(answer.Resources[0]?.meta.location).toBe(`http://${host}/scim/v2/Users/${created.body.id}`);
    }
  });

  it('refuses a bad filter every time, not only the first', async () => {
    for (let i = 0; i < 3; i++) {
      const answer = await http.scim('GET', `/Users?filter=${encodeURIComponent('userName eq')}`);
      expect(answer.status).toBe(400);
      expect(answer.body.scimType).toBe('invalidFilter');
    }
  });
});
