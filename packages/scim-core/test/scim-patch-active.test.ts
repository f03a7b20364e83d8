/**
 * Deactivation and reactivation (RFC 7644 §3.5.2; Okta sends `{"op":"replace","value":{"active":false}}`,
 * Entra `{"op":"Replace","path":"active","value":"False"}`) are answered without rebuilding the user
 * from its SCIM form. Over real HTTP, for any user and any sequence of those PATCHes: the answer and
 * the stored user are what the same change gives through the full PATCH path (a twin user patched
 * with a form that takes it), and the app hears exactly one deactivation or reactivation per change.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ScimHarness, startScimHttp } from './scim-http.js';

const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

const text = fc.string({ minLength: 1, maxLength: 12 });
/** A user body as IdPs send them, empty lists included (Entra sends `"roles": []`). */
const userBody = fc.record(
  {
    displayName: text,
    name: fc.record({ givenName: text, familyName: text }, { requiredKeys: [] }),
    emails: fc.array(fc.record({ value: text, type: fc.constantFrom('work', 'home'), primary: fc.boolean() }), {
      maxLength: 2,
    }),
    roles: fc.array(fc.record({ value: text }), { maxLength: 2 }),
    externalId: text,
    title: text,
    active: fc.boolean(),
    [ENTERPRISE]: fc.record({ department: text, employeeNumber: text }, { requiredKeys: [] }),
  },
  { requiredKeys: [] },
);

/** A value of `active` as IdPs write it, or a wrong one (which must be the same 400 either way). */
const activeValue = fc.oneof(
  fc.boolean(),
  fc.constantFrom('True', 'False', 'true', 'false'),
  fc.constantFrom(1, 'yes', [], {}),
);
/** The forms of "set active" the short path takes. */
const activeOps = (value: unknown) => [
  [{ op: 'replace', path: 'active', value }],
  [{ op: 'Replace', path: 'Active', value }],
  [{ op: 'add', path: `${CORE}:active`, value }],
  [{ op: 'replace', value: { active: value } }],
  [{ op: 'replace', value: { schemas: [CORE], active: value } }],
  [
    { op: 'replace', path: 'active', value: typeof value === 'boolean' ? !value : true },
    { op: 'replace', path: 'active', value },
  ],
];
const step = fc.record({ value: activeValue, form: fc.nat({ max: 5 }) });

let http: ScimHarness;
beforeAll(async () => {
  http = await startScimHttp();
});
afterAll(async () => {
  await http.close();
});

/** What a client compares: the user without what names it (`id`, `userName`, `meta`). */
// biome-ignore lint/suspicious/noExplicitAny: SCIM JSON.
const shape = ({ id: _id, userName: _userName, meta: _meta, ...rest }: any) => rest;

const base = (userName: string, body: object) => ({ schemas: [CORE, ENTERPRISE], userName, ...body });

describe('PATCH of active alone', () => {
  it('answers and stores what the full PATCH path does, and tells the app once per change', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(userBody, fc.array(step, { minLength: 1, maxLength: 6 }), async (body, steps) => {
        const name = `u${run++}`;
        const short = await http.scim('POST', '/Users', base(`${name}-short`, body));
        const full = await http.scim('POST', '/Users', base(`${name}-full`, body));
        expect(short.status).toBe(201);
        expect(full.status).toBe(201);
        let active: boolean = short.body.active;
        for (const { value, form } of steps) {
          const operations = activeOps(value)[form] ?? [];
          const before = http.calls.length;
          const viaShort = await http.scim('PATCH', `/Users/${short.body.id}`, {
            schemas: [PATCH_OP],
            Operations: operations,
          });
          // The same change with a `remove` of nothing, which the short path never takes.
          const viaFull = await http.scim('PATCH', `/Users/${full.body.id}`, {
            schemas: [PATCH_OP],
            Operations: [{ op: 'remove', path: 'nickName' }, ...operations],
          });
          expect(viaShort.status).toBe(viaFull.status);
          if (viaShort.status !== 200) {
            expect(viaShort.status).toBe(400);
            expect(viaShort.body.detail).toBe(viaFull.body.detail);
            continue;
          }
          expect(shape(viaShort.body)).toEqual(shape(viaFull.body));
          const stored = await http.scim('GET', `/Users/${short.body.id}`);
          expect(stored.body).toEqual(viaShort.body);
          const now = viaShort.body.active as boolean;
          const heard = http.calls.slice(before).filter((call) => call.endsWith(`${name}-short`));
          expect(heard).toEqual(now === active ? [] : [`${now ? 'userReactivated' : 'userDeactivated'} ${name}-short`]);
          active = now;
        }
      }),
      { numRuns: 60 },
    );
  });

  it('keeps a user that came from Scalekit on the full path: it becomes a SCIM user', async () => {
    const userName = 'from-scalekit@example.com';
    await http.engine.process({
      type: 'user.upserted',
      id: 'evt_scalekit_1',
      organizationId: 'org_tenant',
      occurredAt: '2026-01-01T00:00:00.000000000Z',
      source: 'scalekit',
      sourceType: 'organization.directory.user_created',
      user: {
        id: 'diruser_1',
        organizationId: 'org_tenant',
        userName,
        email: userName,
        active: true,
        groups: [],
        roles: [],
        attributes: {},
        customAttributes: {},
      },
    });
    const answer = await http.scim('PATCH', '/Users/diruser_1', {
      schemas: [PATCH_OP],
      Operations: [{ op: 'replace', value: { active: false } }],
    });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ userName, active: false, emails: [{ value: userName }] });
    const stored = await http.engine.store.getUser('org_tenant', 'diruser_1');
    expect(stored?.origin).toBe('scim');
    expect(stored?.attributes.scim).toMatchObject({ userName });
  });
});
