/**
 * Issue 14, class 6: an app's own User schema extension, as Okta's and Entra's custom-attribute
 * mappings send it (`urn:ietf:params:scim:schemas:extension:acme:2.0:User`), over real HTTP: served
 * in /Schemas and /ResourceTypes, validated on write (type, canonical values, required, readOnly
 * ignored), filterable and sortable, handed to the handlers (typed, through `scimExtensionOf`), and
 * returned as sent.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import {
  createEngine,
  type DirectoryUser,
  defineScimExtension,
  memoryStore,
  type ScimExtensionValues,
  scimExtensionOf,
  toWebRequest,
  writeWebResponse,
} from '../src/index.js';
import { createScimServer } from '../src/scim/server.js';
import { generateScimToken, scimTokenAuthenticator } from '../src/scim/tokens.js';

const ACME = 'urn:ietf:params:scim:schemas:extension:acme:2.0:User';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';

let base = '';
let close: () => Promise<void>;
const token = generateScimToken();
const seen: DirectoryUser[] = [];
const acme = defineScimExtension({
  id: ACME,
  name: 'AcmeUser',
  attributes: [
    { name: 'badgeNumber', type: 'integer', required: true },
    { name: 'clearance', canonicalValues: ['public', 'secret', 'top-secret'] },
    { name: 'hiredAt', type: 'dateTime' },
    { name: 'contractor', type: 'boolean' },
    { name: 'auditId', mutability: 'readOnly' },
    {
      name: 'sites',
      type: 'complex',
      multiValued: true,
      subAttributes: [{ name: 'code' }, { name: 'floor', type: 'integer' }],
    },
  ],
});
/** What the handlers read with scimExtensionOf, typed from the declaration. */
const typed: (ScimExtensionValues<typeof acme> | undefined)[] = [];

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary SCIM JSON.
async function scim(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/scim+json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

beforeAll(async () => {
  const engine = createEngine({
    store: memoryStore(),
    handlers: {
      userCreated: ({ user }) => {
        seen.push(user);
        typed.push(scimExtensionOf(user, acme));
      },
      userUpdated: ({ user }) => {
        seen.push(user);
        typed.push(scimExtensionOf(user, acme));
      },
    },
  });
  const server = createScimServer({
    engine,
    authenticator: scimTokenAuthenticator([{ organizationId: 'org_acme', tokenHash: token.tokenHash }]),
    schemaExtensions: [acme],
  });
  const http = createServer(async (req, res) => writeWebResponse(res, await server.handle(toWebRequest(req)), req));
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(http.address() as AddressInfo).port}/scim/v2`;
  close = () => new Promise((resolve) => http.close(() => resolve()));
});
afterAll(() => close());

const ada = (acme: Record<string, unknown>, userName = 'ada@acme.example') => ({
  schemas: [USER, ACME],
  userName,
  active: true,
  [ACME]: acme,
});

describe('RFC 7643 §3.3 an app-declared User extension', () => {
  it('is served in /Schemas (with its canonical values) and in the User resource type', async () => {
    const schema = await scim('GET', `/Schemas/${ACME}`);
    expect(schema.status).toBe(200);
    const clearance = schema.body.attributes.find((a: { name: string }) => a.name === 'clearance');
    expect(clearance).toMatchObject({ type: 'string', canonicalValues: ['public', 'secret', 'top-secret'] });
    const types = await scim('GET', '/ResourceTypes/User');
    expect(types.body.schemaExtensions).toContainEqual({ schema: ACME, required: false });
  });

  it('stores typed values, hands them to the handlers, and returns them as sent (canonical case)', async () => {
    const created = await scim(
      'POST',
      '/Users',
      ada({
        badgeNumber: 4711,
        clearance: 'SECRET',
        hiredAt: '2015-10-10T14:38:21.8617979-07:00',
        contractor: 'False',
      }),
    );
    expect(created.status).toBe(201);
    expect(created.body[ACME]).toEqual({
      badgeNumber: 4711,
      clearance: 'secret',
      hiredAt: '2015-10-10T14:38:21.8617979-07:00',
      contractor: false,
    });
    expect(created.body.schemas).toEqual([USER, ACME]);
    const handed = seen.at(-1)?.attributes as { scim: Record<string, unknown> };
    expect(handed.scim[ACME]).toEqual(created.body[ACME]);
    // Typed from the declaration: a required integer, optional strings and booleans, complex lists.
    const values = typed.at(-1);
    expect(values).toEqual(created.body[ACME]);
    expectTypeOf(values).toEqualTypeOf<ScimExtensionValues<typeof acme> | undefined>();
    expectTypeOf<NonNullable<typeof values>['badgeNumber']>().toEqualTypeOf<number>();
    expectTypeOf<NonNullable<typeof values>['contractor']>().toEqualTypeOf<boolean | undefined>();
    expectTypeOf<NonNullable<typeof values>['clearance']>().toEqualTypeOf<string | undefined>();
    expectTypeOf<NonNullable<NonNullable<typeof values>['sites']>[number]['floor']>().toEqualTypeOf<
      number | undefined
    >();
    expect(scimExtensionOf({ attributes: {} }, acme)).toBeUndefined();
    expect(scimExtensionOf({ attributes: { scim: { [ACME.toUpperCase()]: { badgeNumber: 1 } } } }, acme)).toEqual({
      badgeNumber: 1,
    });
    const read = await scim('GET', `/Users/${created.body.id}`);
    expect(read.body[ACME]).toEqual(created.body[ACME]);
  });

  it.each([
    [
      'a value outside its canonical values',
      { badgeNumber: 1, clearance: 'cosmic' },
      /"clearance" must be one of "public", "secret", "top-secret"/,
    ],
    ['a string where an integer belongs', { badgeNumber: '12' }, /"badgeNumber" must be an integer/],
    ['a malformed dateTime', { badgeNumber: 1, hiredAt: 'yesterday' }, /"hiredAt" must be an xsd:dateTime/],
    ['a required attribute left out', { clearance: 'public' }, new RegExp(`"${ACME}:badgeNumber" is required`)],
  ])('refuses %s with 400 invalidValue, creating nothing', async (_case, acme, detail) => {
    const before = seen.length;
    const refused = await scim('POST', '/Users', ada(acme, `refused-${before}@acme.example`));
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ scimType: 'invalidValue', detail: expect.stringMatching(detail) });
    expect(seen.length).toBe(before);
  });

  it('ignores a client value of a readOnly attribute (RFC 7643 §2.2)', async () => {
    const created = await scim('POST', '/Users', ada({ badgeNumber: 7, auditId: 'forged' }, 'grace@acme.example'));
    expect(created.status).toBe(201);
    expect(created.body[ACME]).toEqual({ badgeNumber: 7 });
  });

  it('filters and sorts on its attributes', async () => {
    await scim('POST', '/Users', ada({ badgeNumber: 12, clearance: 'public' }, 'linus@acme.example'));
    const filtered = await scim('GET', `/Users?filter=${encodeURIComponent(`${ACME}:clearance eq "public"`)}`);
    expect(filtered.status).toBe(200);
    expect(filtered.body.Resources.map((u: { userName: string }) => u.userName)).toEqual(['linus@acme.example']);
    const sorted = await scim('GET', `/Users?sortBy=${encodeURIComponent(`${ACME}:clearance`)}&sortOrder=descending`);
    const byBadge = await scim(
      'GET',
      `/Users?sortBy=${encodeURIComponent(`${ACME}:badgeNumber`)}&sortOrder=descending`,
    );
    // RFC 7644 §3.4.2.3 sorts by the attribute's type: an integer as a number (4711 > 12 > 7), not as text.
    expect(byBadge.body.Resources.map((u: Record<string, { badgeNumber: number }>) => u[ACME]?.badgeNumber)).toEqual([
      4711, 12, 7,
    ]);
    const clearances = sorted.body.Resources.map((u: Record<string, { clearance?: string }>) => u[ACME]?.clearance);
    expect(clearances.filter((c: string | undefined) => c !== undefined)).toEqual(['secret', 'public']);
  });

  it('PATCH replaces one extension attribute by its URN path, validated the same way', async () => {
    const { body } = await scim('GET', `/Users?filter=${encodeURIComponent('userName eq "linus@acme.example"')}`);
    const id = body.Resources[0].id;
    const ok = await scim('PATCH', `/Users/${id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: `${ACME}:clearance`, value: 'Top-Secret' }],
    });
    expect(ok.status).toBe(200);
    expect(ok.body[ACME]).toMatchObject({ badgeNumber: 12, clearance: 'top-secret' });
    const refused = await scim('PATCH', `/Users/${id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', path: `${ACME}:clearance`, value: 'cosmic' }],
    });
    expect(refused.status).toBe(400);
    expect((await scim('GET', `/Users/${id}`)).body[ACME].clearance).toBe('top-secret');
  });
});
