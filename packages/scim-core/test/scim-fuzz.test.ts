/**
 * Whatever a client sends, the SCIM server answers a SCIM body with a 2xx or 4xx status, never a 5xx:
 * random filters, paths, query parameters, PATCH operations and bodies, against a store with users
 * and a group in it.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  createEngine,
  createScimServer,
  generateScimToken,
  memoryStore,
  scimTokenAuthenticator,
} from '../src/index.js';
import { filterLikeText } from './helpers.js';

const token = generateScimToken();
const server = createScimServer({
  engine: createEngine({ store: memoryStore() }),
  authenticator: scimTokenAuthenticator([{ organizationId: 'org_fuzz', tokenHash: token.tokenHash }]),
});

async function send(method: string, path: string, body?: string) {
  const response = await server.handle(
    new Request(`https://app.example.com/scim/v2${path}`, {
      method,
      headers: { authorization: `Bearer ${token.token}`, 'content-type': 'application/scim+json' },
      ...(body !== undefined && { body }),
    }),
  );
  const text = await response.text();
  return { status: response.status, text };
}

const fragment = filterLikeText(10);
const patchBody = fc.record({
  schemas: fc.oneof(fc.constant(['urn:ietf:params:scim:api:messages:2.0:PatchOp']), fc.jsonValue()),
  Operations: fc.oneof(
    fc.array(
      fc.record(
        {
          op: fc.oneof(fc.constantFrom('add', 'Replace', 'remove'), fc.string()),
          path: fragment,
          value: fc.jsonValue(),
        },
        { requiredKeys: [] },
      ),
    ),
    fc.jsonValue(),
  ),
});

describe('the SCIM server under random input', () => {
  it('never answers 5xx', async () => {
    const ada = await send(
      'POST',
      '/Users',
      JSON.stringify({ userName: 'ada@fuzz.test', emails: [{ value: 'ada@fuzz.test', type: 'work' }] }),
    );
    const userId = JSON.parse(ada.text).id as string;
    const group = await send('POST', '/Groups', JSON.stringify({ displayName: 'G', members: [{ value: userId }] }));
    const groupId = JSON.parse(group.text).id as string;

    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fragment.map((f) => ['GET', `/Users?filter=${encodeURIComponent(f)}`] as const),
          fragment.map(
            (f) =>
              [
                'GET',
                `/Groups?filter=${encodeURIComponent(f)}&startIndex=${encodeURIComponent(f)}&count=${encodeURIComponent(f)}`,
              ] as const,
          ),
          fragment.map(
            (f) => ['GET', `/Users?sortBy=${encodeURIComponent(f)}&attributes=${encodeURIComponent(f)}`] as const,
          ),
          patchBody.map((b) => ['PATCH', `/Users/${userId}`, JSON.stringify(b)] as const),
          patchBody.map((b) => ['PATCH', `/Groups/${groupId}`, JSON.stringify(b)] as const),
          fc.jsonValue().map((b) => ['PUT', `/Users/${userId}`, JSON.stringify(b)] as const),
          fc.jsonValue().map((b) => ['POST', '/Groups', JSON.stringify(b)] as const),
          fc.string().map((b) => ['POST', '/Users', b] as const),
          fragment.map((f) => ['GET', `/${encodeURIComponent(f)}`] as const),
        ),
        async ([method, path, body]) => {
          const { status, text } = await send(method, path, body);
          expect(status, `${method} ${path} ${body ?? ''} → ${text}`).toBeLessThan(500);
          if (status >= 400)
            expect(JSON.parse(text)).toMatchObject({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'] });
        },
      ),
      { numRuns: 600 },
    );
  });
});
