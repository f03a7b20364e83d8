/** Evaluating SCIM filters against resources: case rules, multi-valued attributes, value paths, dates, presence. */
import { describe, expect, it } from 'vitest';
import { parseFilter } from '../src/scim/filter.js';
import { matchesFilter, parseInstant } from '../src/scim/match.js';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const bjensen = {
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE],
  id: '2819c223-7f76-453a-919d-413861904646',
  externalId: 'Bjensen-EXT',
  userName: 'bjensen@example.com',
  name: { familyName: 'Jensen', givenName: 'Barbara', formatted: 'Ms. Barbara J Jensen III' },
  active: true,
  title: '',
  emails: [
    { value: 'bjensen@example.com', type: 'work', primary: true },
    { value: 'babs@jensen.org', type: 'home' },
  ],
  [ENTERPRISE]: { employeeNumber: '701984', manager: { value: '26118915' } },
  meta: { created: '2010-01-23T04:56:22Z', lastModified: '2011-05-13T04:42:34Z', version: 'W/"3694e05e9dff591"' },
};

const matches = (filter: string) => matchesFilter(bjensen, parseFilter(filter));

describe('matchesFilter', () => {
  it.each([
    ['userName eq "BJENSEN@example.com"', true],
    ['USERNAME Eq "bjensen@example.com"', true],
    ['externalId eq "bjensen-ext"', false],
    ['externalId eq "Bjensen-EXT"', true],
    ['id eq "2819C223-7F76-453A-919D-413861904646"', false],
    ['name.familyName co "ens"', true],
    ['name.givenName sw "bar"', true],
    ['userName ew "@EXAMPLE.COM"', true],
    ['emails co "jensen.org"', true],
    ['emails.type eq "home"', true],
    ['emails[type eq "work" and primary eq true]', true],
    ['emails[type eq "home" and primary eq true]', false],
    ['emails[type eq "work"] and not (active eq false)', true],
    ['title pr', false],
    ['name pr', true],
    ['nickName pr', false],
    ['nickName eq null', true],
    ['active eq true', true],
    ['active ne true', false],
    ['meta.lastModified gt "2011-05-13T04:42:33Z"', true],
    ['meta.lastModified gt "2011-05-13T06:42:34+02:00"', false],
    ['meta.created lt "2011-01-01T00:00:00Z"', true],
    [`${ENTERPRISE}:employeeNumber eq "701984"`, true],
    [`${ENTERPRISE}:manager.value eq "26118915"`, true],
    ['urn:ietf:params:scim:schemas:core:2.0:User:userName sw "b"', true],
    ['emails ne "babs@jensen.org"', false],
    ['userName gt "a" and userName lt "c"', true],
    ['active eq "true"', false],
  ])('%s → %s', (filter, expected) => {
    expect(matches(filter)).toBe(expected);
  });

  it('uses the caller’s caseExact rule', () => {
    const filter = parseFilter('userName eq "BJENSEN@EXAMPLE.COM"');
    expect(matchesFilter(bjensen, filter, { caseExact: (name) => name === 'username' })).toBe(false);
  });
});

describe('parseInstant', () => {
  it('reads a date-time with a zone as an exact instant, and nothing else', () => {
    expect(parseInstant('2015-10-10T14:38:21.8617979-07:00')).toEqual(parseInstant('2015-10-10T21:38:21.86179790Z'));
    expect(parseInstant('2015-10-10T14:38:21.8617979-07:00')).not.toEqual(parseInstant('2015-10-10T21:38:21.861Z'));
    for (const bad of ['2015-02-31T00:00:00Z', '2015-10-10T24:00:00Z', '2015-10-10T14:38:21', '2015-10-10', 'x']) {
      expect(parseInstant(bad), bad).toBeUndefined();
    }
  });

  it('compares date-times as instants, across offsets, below the millisecond', () => {
    const user = { meta: { created: '2015-10-10T21:38:21.8617979Z' } };
    const created = (op: 'gt' | 'lt' | 'eq', value: string) =>
      matchesFilter(user, { op, path: { attribute: 'meta', subAttribute: 'created' }, value });
    expect(created('eq', '2015-10-10T14:38:21.8617979-07:00')).toBe(true);
    expect(created('gt', '2015-10-10T14:38:21.8617978-07:00')).toBe(true);
    expect(created('lt', '2015-10-11T00:38:21.861798+03:00')).toBe(true);
    expect(created('gt', '2015-10-10T21:38:21.862Z')).toBe(false);
  });
});
