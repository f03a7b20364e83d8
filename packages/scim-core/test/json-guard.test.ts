import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { inspectJson, locateProblem, plainJson } from '../src/http/json-guard.js';

/** Keys and strings with what the guard refuses mixed in: NUL, lone surrogates, prototype keys. */
const text = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 6 }),
  fc.constantFrom('__proto__', 'constructor', 'prototype', 'a', '\u0000', '\ud800', 'x\udfffy', '\u{1F600}', ''),
);
const value = fc.letrec((tie) => ({
  any: fc.oneof(
    { depthSize: 'small' },
    text,
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    tie('array'),
    tie('object'),
  ),
  array: fc.array(tie('any'), { maxLength: 4 }),
  object: fc.dictionary(text, tie('any'), { maxKeys: 5 }),
})).any;
/** As `JSON.parse` makes it: `__proto__` an own key, not the prototype. */
const parsed = value.map((v) => JSON.parse(JSON.stringify(v)) as unknown);

describe('inspectJson', () => {
  it('the allocation-free pass and the locating pass agree on every body, at every depth limit', () => {
    fc.assert(
      fc.property(parsed, fc.integer({ min: 1, max: 6 }), (body, maxDepth) => {
        const problem = locateProblem(body, maxDepth);
        expect(plainJson(body, 0, maxDepth)).toBe(problem === undefined);
        expect(inspectJson(body, maxDepth)).toBe(problem);
      }),
      { numRuns: 3_000 },
    );
  });

  it('names the place of each kind of problem', () => {
    expect(inspectJson(JSON.parse('{"a":{"__proto__":{"x":1}}}'), 8)).toBe(
      '"a" has the key "__proto__", which is never accepted',
    );
    expect(inspectJson({ a: [1, 'b\u0000'] }, 8)).toBe('"a.1" contains a NUL character (U+0000)');
    expect(inspectJson({ a: { b: { c: {} } } }, 3)).toBe('"a.b.c" nests deeper than 3 levels');
    expect(inspectJson({ '\ud800': 1 }, 8)).toBe('a key in the body contains a lone UTF-16 surrogate');
    expect(inspectJson({ a: [{ b: 'fine' }] }, 8)).toBeUndefined();
  });

  it('refuses nesting far past the limit without overflowing the stack', () => {
    const deep = JSON.parse(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    expect(inspectJson(deep, 64)).toMatch(/nests deeper than 64 levels/);
  });
});
