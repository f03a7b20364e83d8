import fc from 'fast-check';
import { configure } from 'safe-stable-stringify';
import { describe, expect, it } from 'vitest';
import type { DirectoryUser } from '../src/model.js';
import { canonicalJson, fingerprintUser } from '../src/reconcile/fingerprint.js';
import { deepFreeze } from '../src/scim/resources.js';

/** The serializer fingerprints were computed with before ours: the two must agree byte for byte. */
const reference = configure({ deterministic: true, bigint: false, circularValue: Error });

/** JSON-like values with what JSON cannot hold too: undefined, non-finite numbers, lone surrogates, odd keys. */
const key = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.constantFrom('__proto__', 'constructor', 'a', 'A', 'é', '\u{1F600}', '10', '2', ''),
);
const leaf = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.constant(undefined),
);
const value = fc.letrec((tie) => ({
  any: fc.oneof({ depthSize: 'small' }, leaf, tie('array'), tie('object')),
  array: fc.array(tie('any'), { maxLength: 5 }),
  object: fc.dictionary(key, tie('any'), { maxKeys: 6, noNullPrototype: false }),
})).any;

describe('canonicalJson', () => {
  it('writes what safe-stable-stringify writes, for any value, frozen or not, first or again', () => {
    fc.assert(
      fc.property(value, fc.boolean(), (input, freeze) => {
        const expected = reference(input);
        if (freeze) deepFreeze(input);
        expect(canonicalJson(input)).toBe(expected);
        // Serialized again, frozen or not: still the same.
        expect(canonicalJson(input)).toBe(expected);
      }),
      { numRuns: 2_000 },
    );
  });

  it('honours toJSON as JSON.stringify does (dates)', () => {
    const when = new Date('2026-01-02T03:04:05.000Z');
    const holder = Object.freeze({ when, n: 1 });
    expect(canonicalJson(holder)).toBe(reference(holder));
    when.setUTCFullYear(2027); // a frozen object holding a mutable date: its text must follow the date
    expect(canonicalJson(holder)).toBe('{"n":1,"when":"2027-01-02T03:04:05.000Z"}');
  });

  it('follows a mutable part of a frozen value', () => {
    const inner = { a: 1 };
    const outer = Object.freeze({ inner });
    expect(canonicalJson(outer)).toBe('{"inner":{"a":1}}');
    inner.a = 2;
    expect(canonicalJson(outer)).toBe('{"inner":{"a":2}}');
    const list = Object.freeze([inner]);
    expect(canonicalJson(list)).toBe('[{"a":2}]');
    inner.a = 3;
    expect(canonicalJson(list)).toBe('[{"a":3}]');
  });
});

describe('fingerprints of frozen values', () => {
  const user = (): DirectoryUser => ({
    id: 'u1',
    organizationId: 'org_1',
    active: true,
    groups: [{ id: 'g1', name: 'Eng' }],
    roles: ['member'],
    attributes: { title: 'Engineer' },
    customAttributes: {},
  });

  it('a deeply frozen value keeps its fingerprint, the same as its mutable twin', () => {
    const frozen = deepFreeze(user());
    expect(fingerprintUser(frozen)).toBe(fingerprintUser(user()));
    expect(fingerprintUser(frozen)).toBe(fingerprintUser(user()));
  });

  it('is computed again for a frozen value with a mutable part, or a part whose toJSON answers anew', () => {
    const attributes: Record<string, unknown> = { title: 'Engineer' };
    const partly = Object.freeze({ ...user(), attributes });
    const before = fingerprintUser(partly);
    attributes.title = 'Manager';
    expect(fingerprintUser(partly)).not.toBe(before);
    expect(fingerprintUser(partly)).toBe(fingerprintUser({ ...user(), attributes: { title: 'Manager' } }));

    const when = new Date('2026-01-02T03:04:05.000Z');
    const dated = deepFreeze({ ...user(), attributes: { when } });
    const first = fingerprintUser(dated);
    when.setUTCFullYear(2027); // `Object.freeze` does not stop a Date's setters
    expect(fingerprintUser(dated)).not.toBe(first);
  });

  it('is computed again for a value frozen at the top only', () => {
    const shallow = Object.freeze(user());
    const before = fingerprintUser(shallow);
    (shallow.roles as string[]).push('admin');
    expect(fingerprintUser(shallow)).not.toBe(before);
  });

  it('a fingerprint changes with any field and not with key order or freezing', () => {
    const user: DirectoryUser = {
      id: 'u1',
      organizationId: 'org_1',
      userName: 'ada@example.com',
      active: true,
      groups: [{ id: 'g1', name: 'Eng' }],
      roles: [],
      attributes: { scim: { userName: 'ada@example.com', name: { givenName: 'Ada' } } },
      customAttributes: {},
    };
    const reordered = JSON.parse(
      JSON.stringify({ ...user, attributes: { scim: { name: { givenName: 'Ada' }, userName: 'ada@example.com' } } }),
    );
    const print = fingerprintUser(user);
    expect(fingerprintUser(reordered)).toBe(print);
    const frozen = deepFreeze(structuredClone(user));
    expect(fingerprintUser(frozen)).toBe(print);
    expect(fingerprintUser(frozen)).toBe(print);
    // A new snapshot sharing the frozen attributes (as the memory store keeps them): only `active` differs.
    expect(fingerprintUser(deepFreeze({ ...frozen, active: false }))).not.toBe(print);
    expect(fingerprintUser(deepFreeze({ ...frozen, active: false, attributes: frozen.attributes }))).toBe(
      fingerprintUser({ ...user, active: false }),
    );
  });
});
