/** The locks a transaction takes: one canonical order, organizations first, the whole organization above the limit. */
import type { ResourceRef } from '@org/scim-core';
import { expect, it } from 'vitest';
import { locksFor, MAX_RESOURCE_LOCKS } from '../src/index.js';

const user = (id: string, organizationId = 'org_1'): ResourceRef => ({ organizationId, kind: 'user', id });
const group = (id: string, organizationId = 'org_1'): ResourceRef => ({ organizationId, kind: 'group', id });

it('takes the organization shared, then each resource in its mode, in one order whatever order they were asked in', () => {
  const a = locksFor([user('diruser_1')], [group('dirgroup_1'), group('dirgroup_2')]);
  const b = locksFor([user('diruser_1')], [group('dirgroup_2'), group('dirgroup_1')]);
  expect(a).toEqual(b);
  expect(a.map((l) => l.key)).toEqual([...a.map((l) => l.key)].sort());
  expect(a[0]).toMatchObject({ key: expect.stringMatching(/^0[0-9a-f]{64}$/), exclusive: false });
  expect(a.slice(1).map((l) => l.key.startsWith('1'))).toEqual([true, true, true]);
  expect(a.filter((l) => l.exclusive)).toHaveLength(1);
});

it('locks a resource asked both ways exclusively, once', () => {
  const locks = locksFor([group('dirgroup_1')], [group('dirgroup_1')]);
  expect(locks).toHaveLength(2);
  expect(locks[1]?.exclusive).toBe(true);
});

it('keeps ids that differ only by a trailing space or by case apart', () => {
  const keys = new Set(locksFor([user('a'), user('a '), user('A')], []).map((l) => l.key));
  expect(keys.size).toBe(4);
});

it(`locks only the organizations, exclusively, above ${MAX_RESOURCE_LOCKS} resources`, () => {
  const members = Array.from({ length: MAX_RESOURCE_LOCKS }, (_, i) => user(`diruser_${i}`));
  const locks = locksFor([group('dirgroup_1'), ...members], [group('dirgroup_2', 'org_2')]);
  expect(locks).toHaveLength(2);
  expect(locks.every((l) => l.exclusive && l.key.startsWith('0'))).toBe(true);
  expect(locksFor([], [])).toEqual([]);
});
