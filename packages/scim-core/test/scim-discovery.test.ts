/** The discovery documents: what Okta's and Entra's validators read before provisioning. */
import { describe, expect, it } from 'vitest';
import {
  caseExactOf,
  LIMITS_SCHEMA,
  resourceTypes,
  SCHEMAS,
  schemas,
  serviceProviderConfig,
  USER_ATTRIBUTES,
} from '../src/scim/discovery.js';
import { parseFilter } from '../src/scim/filter.js';
import { DEFAULT_SCIM_LIMITS } from '../src/scim/limits.js';
import { matchesFilter } from '../src/scim/match.js';
import { servedSchemas } from '../src/scim/schema.js';

const options = {
  baseUrl: 'https://app.example.com/scim/v2',
  maxResults: 200,
  maxBodyBytes: 1_048_576,
  limits: DEFAULT_SCIM_LIMITS,
  schemas: servedSchemas(),
};

describe('SCIM discovery', () => {
  it('advertises PATCH, filtering with its maximum, ETags, sorting and bearer tokens; no bulk, no password change', () => {
    expect(serviceProviderConfig(options)).toMatchObject({
      schemas: [SCHEMAS.serviceProviderConfig, LIMITS_SCHEMA],
      [LIMITS_SCHEMA]: { maxBodyBytes: 1_048_576, ...DEFAULT_SCIM_LIMITS },
      patch: { supported: true },
      filter: { supported: true, maxResults: 200 },
      etag: { supported: true },
      sort: { supported: true },
      bulk: { supported: false },
      changePassword: { supported: false },
      authenticationSchemes: [expect.objectContaining({ type: 'oauthbearertoken', primary: true })],
      meta: {
        resourceType: 'ServiceProviderConfig',
        location: 'https://app.example.com/scim/v2/ServiceProviderConfig',
      },
    });
  });

  it('serves Users with the enterprise extension, and Groups', () => {
    expect(resourceTypes(options).map((r) => [r.id, r.endpoint, r.schema])).toEqual([
      ['User', '/Users', SCHEMAS.user],
      ['Group', '/Groups', SCHEMAS.group],
    ]);
    expect(resourceTypes(options)[0]?.schemaExtensions).toEqual([{ schema: SCHEMAS.enterpriseUser, required: false }]);
  });

  it('describes every attribute fully, with RFC 7643 defaults filled in', () => {
    const all = schemas(options);
    expect(all.map((s) => s.id)).toEqual([SCHEMAS.user, SCHEMAS.enterpriseUser, SCHEMAS.group]);
    const walk = (attributes: readonly { subAttributes?: readonly unknown[] }[]): unknown[] =>
      attributes.flatMap((a) => [a, ...walk((a.subAttributes ?? []) as never)]);
    for (const s of all) {
      for (const a of walk(s.attributes)) {
        expect(a).toEqual(
          expect.objectContaining({
            name: expect.any(String),
            type: expect.any(String),
            multiValued: expect.any(Boolean),
            required: expect.any(Boolean),
            caseExact: expect.any(Boolean),
            mutability: expect.any(String),
            returned: expect.any(String),
            uniqueness: expect.any(String),
          }),
        );
      }
    }
    expect(USER_ATTRIBUTES.find((a) => a.name === 'userName')).toMatchObject({
      required: true,
      uniqueness: 'server',
      caseExact: false,
    });
    expect(USER_ATTRIBUTES.find((a) => a.name === 'groups')).toMatchObject({ mutability: 'readOnly' });
  });

  it('drives filter comparison: userName is not case-exact, id and externalId are', () => {
    const caseExact = caseExactOf(USER_ATTRIBUTES);
    const user = { id: 'AbC', externalId: 'Ext-1', userName: 'Ada@Example.com' };
    expect(matchesFilter(user, parseFilter('userName eq "ada@example.com"'), { caseExact })).toBe(true);
    expect(matchesFilter(user, parseFilter('externalId eq "ext-1"'), { caseExact })).toBe(false);
    expect(matchesFilter(user, parseFilter('id eq "abc"'), { caseExact })).toBe(false);
  });
});
