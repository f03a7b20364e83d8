/** Evaluating SCIM filters against resources: case rules, multi-valued attributes, value paths, dates, presence. */
import { describe, expect, it } from 'vitest';
import { parseFilter } from '../src/scim/filter.js';
import { matchesFilter } from '../src/scim/match.js';

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
