import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  badString,
  inspectJson,
  inspectJsonText,
  locateProblem,
  plainJson,
  storableText,
} from '../src/http/json-guard.js';
import { MAX_JSON_DEPTH } from '../src/http/webhook-body.js';

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

/**
 * The JSON texts of `value`: as `JSON.stringify` writes them, indented, and with every escaped
 * surrogate written raw instead (valid JSON too, and what a string body may hold), so a lone one
 * reaches the text check unescaped.
 */
const jsonText = fc.tuple(value, fc.constantFrom('plain', 'indented', 'raw surrogates')).map(([v, style]) => {
  const text = JSON.stringify(v, null, style === 'indented' ? 2 : undefined);
  if (style !== 'raw surrogates') return text;
  // An escape is one when an even number of backslashes (escaped backslashes) comes before it.
  return text.replace(
    /(?<!\\)((?:\\\\)*)\\u(d[89a-f][0-9a-f]{2})/gi,
    (_, before: string, hex: string) => before + String.fromCharCode(Number.parseInt(hex, 16)),
  );
});

/** Every string in a parsed JSON value, keys included. */
function stringsOf(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) stringsOf(item, out);
  else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      out.push(key);
      stringsOf(item, out);
    }
  }
  return out;
}

describe('inspectJsonText', () => {
  it('answers as inspectJson does, on every text and depth limit; a text it calls storable holds no bad string', () => {
    let storable = 0;
    let runs = 0;
    fc.assert(
      fc.property(jsonText, fc.integer({ min: 1, max: 6 }), (text, maxDepth) => {
        const body: unknown = JSON.parse(text);
        expect(inspectJsonText(text, body, maxDepth)).toBe(inspectJson(body, maxDepth));
        runs++;
        if (storableText(text)) {
          storable++;
          expect(stringsOf(body).filter((s) => badString(s) !== undefined)).toEqual([]);
        }
      }),
      { numRuns: 5_000 },
    );
    // The text decides the strings of a fair share on its own; otherwise this property would say little.
    expect(storable / runs).toBeGreaterThan(0.2);
  });

  it("takes a Scalekit event's body as storable, and finds each kind of problem", () => {
    const body = JSON.stringify({
      id: 'evt_1',
      type: 'organization.directory.user_updated',
      data: { id: 'diruser_1', email: 'a@example.com', groups: [{ id: 'g1', name: 'Ünïcødé 😀' }], raw: { a: [1, 2] } },
    });
    expect(storableText(body)).toBe(true);
    expect(inspectJsonText(body, JSON.parse(body), MAX_JSON_DEPTH)).toBeUndefined();
    for (const [text, problem] of [
      ['{"a":"b\\u0000"}', /NUL/],
      ['{"a":"\\ud800"}', /surrogate/],
      ['{"a":"\ud800"}', /surrogate/],
      ['{"__proto__":{}}', /"__proto__"/],
      ['{"a":[{"constructor":1}]}', /"constructor"/],
      ['{"prototype":1}', /"prototype"/],
      [`${'['.repeat(MAX_JSON_DEPTH + 1)}${']'.repeat(MAX_JSON_DEPTH + 1)}`, /deeper/],
    ] as const) {
      expect(inspectJsonText(text, JSON.parse(text), MAX_JSON_DEPTH), text).toMatch(problem);
    }
    const deepest = `${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`;
    expect(inspectJsonText(deepest, JSON.parse(deepest), MAX_JSON_DEPTH)).toBeUndefined();
  });
});
