/**
 * The hostile-input suite: what an attacker holding one tenant's SCIM token can send, over real
 * HTTP on 127.0.0.1, against a SCIM server mounted by an adapter on a store. Fixed cases for every
 * class of attack found so far, and `fast-check` properties that generate PATCH bodies, filters,
 * `sortBy` and `attributes` from prototype-shaped names, URNs, brackets and nesting.
 *
 * After every request it checks the promises that matter:
 * - `Object.prototype` and `Array.prototype` gained nothing (no prototype pollution);
 * - no answer is a 5xx (a 5xx means "retry me": poison input must never get one);
 * - a 4xx changed nothing: both tenants' users, groups and memberships in the store, and the
 *   app's handler calls, are exactly what they were before.
 *
 * ```ts
 * runScimHostileInputSuite('my app on Express', {
 *   start: async ({ server, basePath }) => {
 *     const app = express();
 *     app.use(basePath, scimRouter(server));
 *     const http = app.listen(0, '127.0.0.1');
 *     await once(http, 'listening');
 *     return { url: `http://127.0.0.1:${http.address().port}`, close: () => http.close() };
 *   },
 *   store: { create: () => myStore() }, // default: the memory store
 * });
 * ```
 */
import { randomUUID } from 'node:crypto';
import {
  createEngine,
  createScimServer,
  generateScimToken,
  memoryStore,
  type ProvisioningStore,
  type ScimServer,
  scimTokenAuthenticator,
} from '@org/scim-core';
import fc from 'fast-check';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { recordingHandlers } from './recording-handlers.js';
import type { ScimMountApp, ScimMountHarness } from './scim-mount-conformance.js';
import { parseBody } from './streaming-request.js';

export interface ScimHostileInputHarness extends Pick<ScimMountHarness, 'start' | 'basePath'> {
  /** The store behind the server, created once for the suite. Default: a memory store. */
  store?: {
    create(): Promise<ProvisioningStore> | ProvisioningStore;
    destroy?(store: ProvisioningStore): Promise<void> | void;
  };
  /** Generated cases per property. Default 100. */
  runs?: number;
}

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const SCIM_JSON = 'application/scim+json';

/** Names an attacker tries wherever a key or a path is parsed. */
const PROTOTYPE_NAMES = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'valueOf',
  'hasOwnProperty',
  '__defineGetter__',
  'isPrototypeOf',
] as const;

interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary SCIM JSON.
  body: any;
}

const ownNames = (object: object) => Object.getOwnPropertyNames(object).sort().join(',');

/** Serializes `[key, value]` pairs as a JSON object text, so `__proto__` is a plain key of the text. */
function objectText(entries: readonly (readonly [string, string])[]): string {
  return `{${entries.map(([key, value]) => `${JSON.stringify(key)}:${value}`).join(',')}}`;
}

/**
 * A query value with only what a URL cannot carry encoded, as an attacker would send it: parentheses
 * and letters stay as they are, so a deeply nested filter still fits in Node's 16 KB request head.
 */
const raw = (value: string) => value.replace(/[%\s"#&+]/g, (c) => encodeURIComponent(c));

/** Registers the suite with vitest under `describe(name)`. */
export function runScimHostileInputSuite(name: string, harness: ScimHostileInputHarness): void {
  const basePath = harness.basePath ?? '/scim/v2';
  const runs = harness.runs ?? 100;
  const attacker = generateScimToken();
  const victim = generateScimToken();

  let store: ProvisioningStore;
  let app: ScimMountApp;
  let base: string;
  let current: ScimServer;
  let calls: string[] = [];
  /** Fresh organization ids per test, so tests on one shared store never see each other. */
  let orgs = { attacker: '', victim: '' };
  const server: ScimServer = {
    handle: (request) => current.handle(request),
    respond: (request) => current.respond(request),
  };
  const prototypes = { object: ownNames(Object.prototype), array: ownNames(Array.prototype) };

  function fresh() {
    calls = [];
    const suffix = randomUUID().slice(0, 8);
    orgs = { attacker: `org_attacker_${suffix}`, victim: `org_victim_${suffix}` };
    const handlers = recordingHandlers((handler, arg) => {
      calls.push(`${handler} ${arg.user?.id ?? ''} ${arg.group?.id ?? ''}`);
    });
    current = createScimServer({
      engine: createEngine({ store, handlers }),
      authenticator: scimTokenAuthenticator([
        { organizationId: orgs.attacker, tokenHash: attacker.tokenHash },
        { organizationId: orgs.victim, tokenHash: victim.tokenHash },
      ]),
      basePath,
      // Answers to bad input are this suite's business; 5xx fail the test where they happen.
      onError: () => {},
    });
  }

  /** Both tenants' users, groups and memberships as the store holds them, and the handler calls so far. */
  async function snapshot(): Promise<string> {
    const parts: unknown[] = [calls.length];
    for (const organizationId of [orgs.attacker, orgs.victim]) {
      const users = await store.listUsers(organizationId, { limit: 10_000 });
      const groups = await store.listGroups(organizationId, { limit: 10_000 });
      const members = await Promise.all(groups.map((g) => store.listGroupMemberIds(organizationId, g.id)));
      parts.push(users, groups, members);
    }
    return JSON.stringify(parts);
  }

  function expectPrototypesClean() {
    expect(ownNames(Object.prototype), 'Object.prototype gained a property').toBe(prototypes.object);
    expect(ownNames(Array.prototype), 'Array.prototype gained a property').toBe(prototypes.array);
  }

  /** One request, raw: `body` is sent as given when it is a string. */
  async function send(method: string, path: string, body?: unknown, token = attacker.token): Promise<Answer> {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: { accept: SCIM_JSON, 'content-type': SCIM_JSON, authorization: `Bearer ${token}` },
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });
    return { status: response.status, headers: response.headers, body: parseBody(await response.text()) };
  }

  /**
   * A hostile request: answered below 500, leaving the prototypes clean and, when refused (4xx),
   * the store and the handler calls exactly as they were.
   */
  async function attack(
    method: string,
    path: string,
    body?: unknown,
    /** A URL the framework may refuse before routing (Fastify answers malformed percent-encoding itself). */
    options: { frameworkMayRefuse?: boolean } = {},
  ): Promise<Answer> {
    const before = await snapshot();
    const answer = await send(method, path, body);
    const shown = `${method} ${path.slice(0, 200)} → ${answer.status} ${String(JSON.stringify(answer.body)).slice(0, 300)}`;
    expectPrototypesClean();
    expect(answer.status, `no 5xx for bad input: ${shown}`).toBeLessThan(500);
    if (answer.status >= 400) {
      if (!options.frameworkMayRefuse) expect(answer.headers.get('content-type'), shown).toContain(SCIM_JSON);
      expect(await snapshot(), `a refused request changed nothing: ${shown}`).toBe(before);
    }
    return answer;
  }

  async function createUser(userName: string, extra: Record<string, unknown> = {}, token = attacker.token) {
    const answer = await send('POST', '/Users', { schemas: [USER], userName, ...extra }, token);
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    return answer.body as { id: string };
  }

  async function createGroup(displayName: string, members: string[] = []) {
    const answer = await send('POST', '/Groups', {
      schemas: [GROUP],
      displayName,
      members: members.map((value) => ({ value })),
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(201);
    return answer.body as { id: string };
  }

  const patchBody = (...operations: unknown[]) => ({ schemas: [PATCH], Operations: operations });

  describe(`SCIM hostile input: ${name}`, () => {
    beforeAll(async () => {
      store = await (harness.store?.create() ?? memoryStore());
      fresh();
      app = await harness.start({ server, basePath, globalBodyParser: false });
      base = `${app.url}${basePath}`;
    });
    afterAll(async () => {
      await app?.close();
      if (store) await harness.store?.destroy?.(store);
    });
    beforeEach(fresh);

    describe('prototype pollution', () => {
      it('refuses a PATCH path with a "__proto__:" prefix on a user and a group, polluting nothing', async () => {
        const user = await createUser('ada');
        const group = await createGroup('Admins');
        for (const path of ['__proto__:x-pwn', 'constructor:prototype', '__proto__.x', 'constructor.prototype']) {
          for (const target of [`/Users/${user.id}`, `/Groups/${group.id}`]) {
            const answer = await attack('PATCH', target, patchBody({ op: 'add', path, value: 'owned' }));
            expect(answer.status, path).toBe(400);
          }
        }
        expect(({} as Record<string, unknown>)['x-pwn']).toBeUndefined();
      });

      it('leaves prototype-shaped keys of a path-less replace out, at any depth', async () => {
        const user = await createUser('ada');
        const value = objectText([
          ['__proto__:x-pwn', '"owned"'],
          ['__proto__', '{"polluted":true}'],
          ['constructor', '{"prototype":{"polluted":true}}'],
          [
            'name',
            objectText([
              ['__proto__', '{"polluted":true}'],
              ['givenName', '"Ada"'],
            ]),
          ],
        ]);
        const body = `{"schemas":["${PATCH}"],"Operations":[{"op":"replace","value":${value}}]}`;
        const answer = await attack('PATCH', `/Users/${user.id}`, body);
        expect(answer.status).toBe(400);
        const renamed = await attack(
          'PATCH',
          `/Users/${user.id}`,
          patchBody({ op: 'replace', value: { 'x:__proto__': 'owned', 'name.givenName': 'Ada' } }),
        );
        expect(renamed.status).toBe(200);
        expect(renamed.body.name).toEqual({ givenName: 'Ada' });
        expect(Object.keys(renamed.body).filter((k) => k.includes('proto'))).toEqual([]);
      });

      it('refuses a body with a "__proto__", "constructor" or "prototype" key anywhere', async () => {
        for (const key of ['__proto__', 'constructor', 'prototype']) {
          const body = objectText([
            ['schemas', `["${USER}"]`],
            ['userName', '"mallory"'],
            ['name', objectText([[key, '{"polluted":true}']])],
          ]);
          expect((await attack('POST', '/Users', body)).status, key).toBe(400);
        }
      });

      it('takes an extension URN alone as the path of the whole extension', async () => {
        const user = await createUser('ada');
        const answer = await attack(
          'PATCH',
          `/Users/${user.id}`,
          patchBody({ op: 'add', path: ENTERPRISE, value: { department: 'Engines', manager: { value: 'babbage' } } }),
        );
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        expect(answer.body[ENTERPRISE]).toEqual({ department: 'Engines', manager: { value: 'babbage' } });
        expect(answer.body.schemas).toEqual([USER, ENTERPRISE]);
        const again = await attack('GET', `/Users/${user.id}`);
        expect(again.body[ENTERPRISE]).toEqual({ department: 'Engines', manager: { value: 'babbage' } });
        expect(Object.keys(again.body).filter((k) => k.startsWith('urn:') && k !== ENTERPRISE)).toEqual([]);
      });

      it('refuses a PATCH path of an attribute or schema the server does not declare', async () => {
        const user = await createUser('ada');
        for (const path of [
          'name.toString',
          'emails.constructor',
          'urn:example:undeclared:2.0:User:x',
          'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:toString',
          'emails[constructor eq "x"].value',
          'emails[type eq "work"].__proto__',
          'nickname.x',
        ]) {
          expect(
            (await attack('PATCH', `/Users/${user.id}`, patchBody({ op: 'add', path, value: 'x' }))).status,
            path,
          ).toBe(400);
        }
        // The user still lists and sorts.
        expect((await attack('GET', '/Users?sortBy=name.givenName')).status).toBe(200);
      });

      it('refuses filters, sortBy and attributes that name undeclared attributes, matching nothing through them', async () => {
        await createUser('ada');
        for (const filter of [
          'constructor eq "x"',
          'constructor pr',
          '__proto__ pr',
          'toString pr',
          'name.constructor pr',
          'emails[__proto__ pr]',
        ]) {
          const answer = await attack('GET', `/Users?filter=${encodeURIComponent(filter)}`);
          expect(answer.status, filter).toBe(400);
          expect(answer.body.scimType).toBe('invalidFilter');
        }
        for (const sortBy of ['constructor', '__proto__', 'name.toString', 'toString']) {
          expect((await attack('GET', `/Users?sortBy=${encodeURIComponent(sortBy)}`)).status, sortBy).toBe(400);
        }
        const projected = await attack('GET', '/Users?attributes=__proto__,constructor,userName');
        expect(projected.status).toBe(200);
        expect(Object.keys(projected.body.Resources[0]).sort()).toEqual(['id', 'schemas', 'userName']);
      });
    });

    describe('bad input is a 4xx with nothing written', () => {
      it('refuses deeply nested filters without overflowing the stack', async () => {
        await createUser('ada');
        for (const filter of [
          `${'('.repeat(2500)}userName eq "a"${')'.repeat(2500)}`,
          `${'not('.repeat(2000)}userName eq "a"${')'.repeat(2000)}`,
          `emails[${'('.repeat(200)}type eq "a"${')'.repeat(200)}]`,
        ]) {
          const answer = await attack('GET', `/Users?filter=${raw(filter)}`);
          expect(answer.status).toBe(400);
          expect(answer.body.scimType).toBe('invalidFilter');
        }
      });

      it('refuses a body nested thousands of levels deep, and the tenant still lists', async () => {
        const deep = `${'{"a":'.repeat(2250)}1${'}'.repeat(2250)}`;
        const body = `{"schemas":["${USER}"],"userName":"deep","name":${deep}}`;
        expect((await attack('POST', '/Users', body)).status).toBe(400);
        const array = `{"schemas":["${USER}"],"userName":"deep","emails":${'['.repeat(3000)}${']'.repeat(3000)}}`;
        expect((await attack('POST', '/Users', array)).status).toBe(400);
        expect((await attack('GET', '/Users')).status).toBe(200);
      });

      it('refuses strings no database can store: NUL and lone surrogates, in values and keys', async () => {
        for (const userName of ['"a\\u0000b"', '"\\ud800"', '"x\\udfff"']) {
          const body = `{"schemas":["${USER}"],"userName":${userName}}`;
          expect((await attack('POST', '/Users', body)).status, userName).toBe(400);
        }
        const user = await createUser('ada');
        const nulKey = `{"schemas":["${PATCH}"],"Operations":[{"op":"replace","value":{"nick\\u0000Name":"x"}}]}`;
        expect((await attack('PATCH', `/Users/${user.id}`, nulKey)).status).toBe(400);
        const group = `{"schemas":["${GROUP}"],"displayName":"\\ud83d"}`;
        expect((await attack('POST', '/Groups', group)).status).toBe(400);
      });

      it('refuses identifiers longer than an index can hold', async () => {
        const long = Array.from({ length: 4096 }, (_, i) => String.fromCharCode(0x4e00 + ((i * 7919) % 20000))).join(
          '',
        );
        expect((await attack('POST', '/Users', { schemas: [USER], userName: long })).status).toBe(400);
        expect((await attack('POST', '/Users', { schemas: [USER], userName: 'ok', externalId: long })).status).toBe(
          400,
        );
        expect((await attack('POST', '/Groups', { schemas: [GROUP], displayName: long })).status).toBe(400);
        // A userName whose normalized form grows past the limit (U+FDFA is 18 characters under NFKC).
        expect((await attack('POST', '/Users', { schemas: [USER], userName: '\ufdfa'.repeat(100) })).status).toBe(400);
      });

      it('answers huge or malformed paging and path values without a 5xx', async () => {
        await createUser('ada');
        for (const query of [
          'startIndex=9223372036854775808',
          'startIndex=-5&count=-1',
          'count=99999999999999999999',
          'startIndex=1e308',
        ]) {
          expect((await attack('GET', `/Users?${query}`)).status, query).toBe(200);
        }
        for (const path of ['/Schemas/%', '/Schemas/%E0%A4%A']) {
          const answer = await attack('GET', path, undefined, { frameworkMayRefuse: true });
          expect([400, 404], path).toContain(answer.status);
        }
        expect((await attack('GET', `/Users/${'x'.repeat(5000)}`)).status).toBe(404);
      });
    });

    describe('bounded work per request', () => {
      it('refuses a filter over the length or term limits with invalidFilter', async () => {
        const terms = Array.from({ length: 600 }, (_, i) => `userName eq ${i}`).join(' or ');
        const answer = await attack('GET', `/Users?filter=${raw(terms)}`);
        expect(answer.status).toBe(400);
        expect(answer.body.scimType).toBe('invalidFilter');
        const many = Array.from({ length: 40 }, (_, i) => `userName eq "${i}"`).join(' or ');
        expect((await attack('GET', `/Users?filter=${encodeURIComponent(many)}`)).status).toBe(400);
      });

      it('refuses a long sortBy and too many attribute names', async () => {
        const sortBy = Array.from({ length: 3000 }, () => 'name').join('.');
        expect((await attack('GET', `/Users?sortBy=${sortBy}`)).status).toBe(400);
        const names = Array.from({ length: 500 }, () => 'userName').join(',');
        expect((await attack('GET', `/Users?attributes=${names}`)).status).toBe(400);
      });

      it('refuses a PATCH with too many operations (413) and a resource over the stored-size limit (413)', async () => {
        const user = await createUser('ada');
        const operations = Array.from({ length: 1000 }, () => ({ op: 'replace', path: 'nickName', value: 'x' }));
        expect((await attack('PATCH', `/Users/${user.id}`, patchBody(...operations))).status).toBe(413);
        const fat = Array.from({ length: 200 }, (_, i) => ({ value: `${i}-${'x'.repeat(3000)}`, type: 'work' }));
        expect((await attack('POST', '/Users', { schemas: [USER], userName: 'fat', ims: fat })).status).toBe(413);
        expect(
          (await attack('PUT', `/Users/${user.id}`, { schemas: [USER], userName: 'ada', photos: fat })).status,
        ).toBe(413);
      });
    });

    describe('atomic writes', () => {
      it('creates no group and calls no handler when a member does not exist', async () => {
        const ada = await createUser('ada');
        const answer = await attack('POST', '/Groups', {
          schemas: [GROUP],
          displayName: 'Admins',
          members: [{ value: ada.id }, { value: 'no-such-user' }],
        });
        expect(answer.status).toBe(400);
        expect((await send('GET', '/Groups')).body.totalResults).toBe(0);
      });

      it('leaves a group unrenamed when a PUT or PATCH names a member that does not exist', async () => {
        const group = await createGroup('Admins');
        const put = await attack('PUT', `/Groups/${group.id}`, {
          schemas: [GROUP],
          displayName: 'Renamed',
          members: [{ value: 'no-such-user' }],
        });
        expect(put.status).toBe(400);
        const patch = await attack(
          'PATCH',
          `/Groups/${group.id}`,
          patchBody(
            { op: 'replace', path: 'displayName', value: 'Renamed' },
            { op: 'add', path: 'members', value: [{ value: 'ghost' }] },
          ),
        );
        expect(patch.status).toBe(400);
        expect((await send('GET', `/Groups/${group.id}`)).body.displayName).toBe('Admins');
      });
    });

    describe('userName uniqueness', () => {
      it.each([
        ['ſam', 'sam'],
        ['STRAßE', 'strasse'],
        ['sam ', 'sam'],
        ['sam\u00a0', 'sam'],
        ['e\u0301mile', '\u00e9mile'],
        ['ＳＡＭ', 'sam'],
      ])('refuses %j next to %j with 409, and keeps the name as sent', async (second, first) => {
        const created = await createUser(first);
        const answer = await attack('POST', '/Users', { schemas: [USER], userName: second });
        expect(answer.status).toBe(409);
        expect(answer.body.scimType).toBe('uniqueness');
        expect((await send('GET', `/Users/${created.id}`)).body.userName).toBe(first);
      });
    });

    describe('tenants', () => {
      it('never lets one tenant’s attacks reach another’s users', async () => {
        const theirs = await createUser('victim', {}, victim.token);
        for (const [method, body] of [
          ['PATCH', patchBody({ op: 'replace', path: 'active', value: false })],
          ['PUT', { schemas: [USER], userName: 'taken-over' }],
          ['DELETE', undefined],
        ] as const) {
          expect((await attack(method, `/Users/${theirs.id}`, body)).status).toBe(404);
        }
      });
    });

    describe('generated attacks', () => {
      // Weighted towards the attack: prototype names and URN prefixes more often than real attributes.
      const names = fc.oneof(
        { weight: 3, arbitrary: fc.constantFrom(...PROTOTYPE_NAMES) },
        {
          weight: 2,
          arbitrary: fc.constantFrom(
            'userName',
            'name',
            'emails',
            'members',
            'displayName',
            'active',
            'givenName',
            'value',
            'type',
          ),
        },
      );
      const urn = fc.constantFrom(
        USER,
        ENTERPRISE,
        GROUP,
        'urn:x',
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0',
        '__proto__',
        'constructor',
      );
      const pathText = fc
        .tuple(
          fc.option(urn, { nil: undefined, freq: 2 }),
          fc.array(names, { minLength: 1, maxLength: 3 }),
          fc.option(
            fc.tuple(names, fc.constantFrom('eq', 'pr', 'co', 'xx'), fc.constantFrom('"work"', '1', 'true', '')),
            {
              nil: undefined,
            },
          ),
          fc.option(names, { nil: undefined }),
        )
        .map(([schema, parts, filter, sub]) => {
          const head = `${schema ? `${schema}:` : ''}${parts.join('.')}`;
          const bracket = filter ? `[${filter[0]} ${filter[1]} ${filter[2]}]` : '';
          return `${head}${bracket}${sub ? `.${sub}` : ''}`;
        });
      const leaf = fc.oneof(
        fc.constantFrom('"x"', '1', 'true', 'null', '"False"', '[]', '{}', '"\\u0000"', '"\\ud800"'),
        fc.string({ maxLength: 8 }).map((s) => JSON.stringify(s)),
      );
      const valueText: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
        value: fc.oneof(
          { depthSize: 'small', withCrossShrink: true },
          leaf,
          fc.array(tie('value'), { maxLength: 3 }).map((items) => `[${items.join(',')}]`),
          fc
            .array(fc.tuple(fc.oneof(pathText, names, urn), tie('value')), { maxLength: 4 })
            .map((entries) => objectText(entries)),
        ),
      })).value;
      const operation = fc
        .tuple(
          fc.constantFrom('add', 'replace', 'remove', 'Replace'),
          fc.option(pathText, { nil: undefined }),
          valueText,
        )
        .map(([op, path, value]) =>
          objectText([
            ['op', JSON.stringify(op)],
            ...(path === undefined ? [] : [['path', JSON.stringify(path)] as const]),
            ['value', value],
          ]),
        );
      const patchText = fc
        .array(operation, { minLength: 1, maxLength: 4 })
        .map((ops) => `{"schemas":["${PATCH}"],"Operations":[${ops.join(',')}]}`);

      it('survives generated PATCH bodies on users and groups', async () => {
        const user = await createUser('ada', { name: { givenName: 'Ada' }, emails: [{ value: 'a@x', type: 'work' }] });
        const group = await createGroup('Admins', [user.id]);
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom(`/Users/${user.id}`, `/Groups/${group.id}`),
            patchText,
            async (target, body) => {
              await attack('PATCH', target, body);
            },
          ),
          { numRuns: runs },
        );
      });

      it('survives generated filters, sortBy and attributes', async () => {
        await createUser('ada', { emails: [{ value: 'a@x', type: 'work' }] });
        const expression: fc.Arbitrary<string> = fc.letrec<{ e: string }>((tie) => ({
          e: fc.oneof(
            { depthSize: 'small', withCrossShrink: true },
            fc
              .tuple(pathText, fc.constantFrom('eq', 'ne', 'co', 'sw', 'pr', 'gt', 'lt', 'xx'), leaf)
              .map(([path, op, value]) => (op === 'pr' ? `${path} pr` : `${path} ${op} ${value}`)),
            fc.tuple(tie('e'), fc.constantFrom('and', 'or'), tie('e')).map(([a, op, b]) => `${a} ${op} ${b}`),
            tie('e').map((e) => `not (${e})`),
            tie('e').map((e) => `(${e})`),
          ),
        })).e;
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom('/Users', '/Groups'),
            fc.option(expression, { nil: undefined }),
            fc.option(pathText, { nil: undefined }),
            fc.option(fc.array(pathText, { maxLength: 3 }), { nil: undefined }),
            async (collection, filter, sortBy, attributes) => {
              const query = new URLSearchParams();
              if (filter !== undefined) query.set('filter', filter);
              if (sortBy !== undefined) query.set('sortBy', sortBy);
              if (attributes !== undefined) query.set('attributes', attributes.join(','));
              await attack('GET', `${collection}?${query}`);
            },
          ),
          { numRuns: runs },
        );
      });

      it('survives generated resource bodies on POST and PUT', async () => {
        const user = await createUser('ada');
        await fc.assert(
          fc.asyncProperty(
            fc.constantFrom('POST /Users', `PUT /Users/${user.id}`, 'POST /Groups'),
            fc.array(fc.tuple(fc.oneof(names, pathText, urn), valueText), { maxLength: 5 }),
            async (target, entries) => {
              const [method, path] = target.split(' ') as [string, string];
              const required: [string, string][] = path.includes('Groups')
                ? [['displayName', JSON.stringify(`g-${randomUUID()}`)]]
                : [['userName', JSON.stringify(`u-${randomUUID()}`)]];
              await attack(method, path, objectText([...required, ...entries]));
            },
          ),
          { numRuns: runs },
        );
      });
    });
  });
}
