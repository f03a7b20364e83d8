/**
 * The SCIM filter grammar (RFC 7644 §3.4.2.2): examples from the RFC and from what Okta and Entra
 * send, precedence, errors that say where, and properties: any filter prints to text that parses
 * back to the same tree, and random text never escapes as anything but an `invalidFilter`.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ScimError } from '../src/scim/errors.js';
import { type Filter, formatFilter, parseFilter } from '../src/scim/filter.js';
import { filterLikeText } from './helpers.js';

const path = (attribute: string, extra: { schema?: string; subAttribute?: string } = {}) => ({ attribute, ...extra });

describe('parseFilter', () => {
  it.each([
    ['userName eq "bjensen"', { op: 'eq', path: path('userName'), value: 'bjensen' }],
    [
      'name.familyName co "O\'Malley"',
      { op: 'co', path: path('name', { subAttribute: 'familyName' }), value: "O'Malley" },
    ],
    ['userName sw "J"', { op: 'sw', path: path('userName'), value: 'J' }],
    [
      'urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J"',
      { op: 'sw', path: path('userName', { schema: 'urn:ietf:params:scim:schemas:core:2.0:User' }), value: 'J' },
    ],
    ['title pr', { op: 'pr', path: path('title') }],
    // Entra: a value path then a sub-attribute means both conditions on one value.
    [
      'emails[type eq "work"].value eq "a@b.c"',
      {
        op: 'valuePath',
        path: path('emails'),
        filter: {
          op: 'and',
          left: { op: 'eq', path: path('type'), value: 'work' },
          right: { op: 'eq', path: path('value'), value: 'a@b.c' },
        },
      },
    ],
    // Microsoft's validator: an unquoted word that is no literal and no number is a string.
    ['userName sw O', { op: 'sw', path: path('userName'), value: 'O' }],
    ['userName eq a@b.c', { op: 'eq', path: path('userName'), value: 'a@b.c' }],
    [
      'meta.created gt 2015-10-10T14:38:21.8617979-07:00',
      { op: 'gt', path: path('meta', { subAttribute: 'created' }), value: '2015-10-10T14:38:21.8617979-07:00' },
    ],
    ['userName eq 12', { op: 'eq', path: path('userName'), value: 12 }],
    [
      'meta.lastModified gt "2011-05-13T04:42:34Z"',
      { op: 'gt', path: path('meta', { subAttribute: 'lastModified' }), value: '2011-05-13T04:42:34Z' },
    ],
    ['active eq True', { op: 'eq', path: path('active'), value: true }],
    ['manager eq null', { op: 'eq', path: path('manager'), value: null }],
    ['age GE -1.5e2', { op: 'ge', path: path('age'), value: -150 }],
    [
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915-6090-4610-87e4-49d8ca9f808d"',
      {
        op: 'eq',
        path: path('manager', {
          schema: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
          subAttribute: 'value',
        }),
        value: '26118915-6090-4610-87e4-49d8ca9f808d',
      },
    ],
  ] as const)('%s', (text, tree) => {
    expect(parseFilter(text)).toEqual(tree);
  });

  it('binds not tighter than and, and and tighter than or', () => {
    const f = parseFilter('title pr or userType eq "Employee" and not (emails co "example.org")');
    expect(f).toEqual({
      op: 'or',
      left: { op: 'pr', path: path('title') },
      right: {
        op: 'and',
        left: { op: 'eq', path: path('userType'), value: 'Employee' },
        right: { op: 'not', filter: { op: 'co', path: path('emails'), value: 'example.org' } },
      },
    });
  });

  it('parses value paths, with logic inside the brackets', () => {
    expect(parseFilter('emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp"]')).toEqual({
      op: 'or',
      left: {
        op: 'valuePath',
        path: path('emails'),
        filter: {
          op: 'and',
          left: { op: 'eq', path: path('type'), value: 'work' },
          right: { op: 'co', path: path('value'), value: '@example.com' },
        },
      },
      right: { op: 'valuePath', path: path('ims'), filter: { op: 'eq', path: path('type'), value: 'xmpp' } },
    });
  });

  it('reads operators and literals in any case, and keeps attribute spelling', () => {
    expect(parseFilter('UserName EQ "x" AND Active Eq FALSE')).toEqual({
      op: 'and',
      left: { op: 'eq', path: path('UserName'), value: 'x' },
      right: { op: 'eq', path: path('Active'), value: false },
    });
  });

  it('reads JSON escapes in strings', () => {
    expect(parseFilter('displayName eq "a \\"quoted\\" \\u00e9 \\\\ name"')).toMatchObject({
      value: 'a "quoted" é \\ name',
    });
  });

  it.each([
    ['', /empty/],
    ['userName', /expected an operator after "userName" at the end/],
    ['userName eq', /expected a value at the end/],
    ['userName eq and', /"and" is not a value \(quote it\)/],
    ['userName sw pr', /"pr" is not a value \(quote it\)/],
    ['emails[type eq "work"].value', /expected an operator after ".value" at the end/],
    ['emails[type eq "work"].__proto__ eq "x"', /"\.__proto__" after "\]" is not a sub-attribute/],
    ['userName xx "a"', /"xx" is not an operator/],
    ['userName eq "a" and', /expected an attribute at the end/],
    ['(userName eq "a"', /expected "\)" at the end/],
    ['userName eq "a")', /unexpected "\)" at position 15/],
    ['emails[type eq "work"', /expected "\]" at the end/],
    ['emails[type[value eq "x"]]', /cannot nest/],
    ['userName eq "unterminated', /unterminated or malformed string at position 12/],
    ['not userName eq "a"', /"not" takes parentheses/],
    ['name.given.more eq "a"', /is not an attribute path/],
    ['userName eq 1e999', /out of range/],
    ['userName eq "a" # comment', /unexpected "#"/],
  ])('refuses %j as invalidFilter', (text, message) => {
    let error: unknown;
    try {
      parseFilter(text);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ScimError);
    expect(error).toMatchObject({ status: 400, scimType: 'invalidFilter' });
    expect((error as Error).message).toMatch(message);
  });
});

const attributeName = fc
  .stringMatching(/^[A-Za-z][A-Za-z0-9_$-]{0,8}$/)
  .filter((name) => !['and', 'or', 'not', 'pr', 'true', 'false', 'null'].includes(name.toLowerCase()));
const attributePath = fc.record(
  {
    schema: fc.constantFrom(
      'urn:ietf:params:scim:schemas:core:2.0:User',
      'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
    ),
    attribute: attributeName,
    subAttribute: attributeName,
  },
  { requiredKeys: ['attribute'] },
);
const compareValue = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => (Object.is(n, -0) ? 0 : n)),
  fc.boolean(),
  fc.constant(null),
);
const attributeExpression = fc.oneof(
  attributePath.map((p): Filter => ({ op: 'pr', path: p })),
  fc
    .record({
      op: fc.constantFrom('eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'),
      path: attributePath,
      value: compareValue,
    })
    .map((f): Filter => f),
);
const filterTree = fc.letrec<{ filter: Filter; inner: Filter }>((tie) => ({
  inner: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    attributeExpression,
    fc.record({ op: fc.constantFrom('and', 'or'), left: tie('inner'), right: tie('inner') }).map((f): Filter => f),
    tie('inner').map((filter): Filter => ({ op: 'not', filter })),
  ),
  filter: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('inner'),
    fc
      .record({ path: attributePath.map(({ subAttribute: _, ...p }) => p), filter: tie('inner') })
      .map((f): Filter => ({ op: 'valuePath', ...f })),
    fc.record({ op: fc.constantFrom('and', 'or'), left: tie('filter'), right: tie('filter') }).map((f): Filter => f),
    tie('filter').map((filter): Filter => ({ op: 'not', filter })),
  ),
}));

describe('filter properties', () => {
  it('prints any filter to text that parses back to the same tree', () => {
    fc.assert(
      fc.property(filterTree.filter, (tree) => {
        const text = formatFilter(tree);
        expect(parseFilter(text)).toEqual(tree);
        expect(formatFilter(parseFilter(text))).toBe(text);
      }),
      { numRuns: 500 },
    );
  });

  it('answers random text with a tree or an invalidFilter, never anything else', () => {
    fc.assert(
      fc.property(filterLikeText(12), (text) => {
        try {
          parseFilter(text);
        } catch (error) {
          expect(error).toBeInstanceOf(ScimError);
          expect((error as ScimError).scimType).toBe('invalidFilter');
        }
      }),
      { numRuns: 2000 },
    );
  });
});
