import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { changedUserFields, jsonEqual } from '../src/engine/diff.js';
import type { DirectoryUser } from '../src/model.js';

/** The same JSON value rebuilt with every object's keys in another order (and fresh arrays). */
function reordered(value: unknown, flip: boolean): unknown {
  if (Array.isArray(value)) return value.map((item) => reordered(item, flip));
  if (typeof value !== 'object' || value === null) return value;
  const keys = Object.keys(value);
  if (flip) keys.reverse();
  const copy: Record<string, unknown> = {};
  for (const key of keys) {
    Object.defineProperty(copy, key, {
      value: reordered((value as Record<string, unknown>)[key], !flip),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return copy;
}

/** JSON as `JSON.parse` makes it, keys such as `__proto__` included (own properties there). */
const json = fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.parse(JSON.stringify(value)) as unknown);

describe('jsonEqual', () => {
  it('agrees with isDeepStrictEqual on JSON values, in any key order', () => {
    fc.assert(
      fc.property(json, json, fc.boolean(), (a, b, flip) => {
        expect(jsonEqual(a, b)).toBe(isDeepStrictEqual(a, b));
        expect(jsonEqual(a, reordered(a, flip))).toBe(true);
        expect(jsonEqual(reordered(b, flip), a)).toBe(isDeepStrictEqual(a, b));
      }),
      { numRuns: 500 },
    );
  });

  it('tells a key more or less on either side, whatever the values', () => {
    expect(jsonEqual({ a: 1 }, { a: 1, b: undefined })).toBe(false);
    expect(jsonEqual({ a: 1, b: undefined }, { a: 1 })).toBe(false);
    expect(jsonEqual({ a: 1, b: 2 }, { a: 1, c: 2 })).toBe(false);
    expect(jsonEqual({}, [])).toBe(false);
    expect(jsonEqual([], {})).toBe(false);
    expect(jsonEqual({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toBe(true);
  });

  it('compares null-prototype objects by their keys', () => {
    const a = Object.assign(Object.create(null), { x: 1, y: [2] });
    const b = Object.assign(Object.create(null), { y: [2], x: 1 });
    expect(jsonEqual(a, b)).toBe(true);
    expect(jsonEqual(a, { x: 1, y: [2] })).toBe(true);
    expect(jsonEqual(a, Object.assign(Object.create(null), { x: 1 }))).toBe(false);
  });

  it('errs towards "changed" when an object inherits an enumerable key', () => {
    const parent = { inherited: 1 };
    const a = Object.assign(Object.create(parent), { x: 1 });
    const b = Object.assign(Object.create(parent), { x: 1 });
    expect(jsonEqual(a, b)).toBe(false);
  });

  it('names exactly the user fields that differ', () => {
    const user: DirectoryUser = {
      id: 'u1',
      organizationId: 'org_1',
      active: true,
      email: 'a@example.com',
      groups: [],
      roles: ['viewer'],
      attributes: { title: 'Engineer', address: { locality: 'Paris' } },
      customAttributes: {},
    };
    const moved = { ...user, attributes: { address: { locality: 'Lyon' }, title: 'Engineer' } };
    expect(
      changedUserFields(user, { ...user, attributes: { address: { locality: 'Paris' }, title: 'Engineer' } }),
    ).toEqual([]);
    expect(changedUserFields(user, moved)).toEqual(['attributes']);
    expect(changedUserFields(user, { ...moved, active: false, roles: [] })).toEqual(['active', 'roles', 'attributes']);
  });
});
