import fc from 'fast-check';
import { expect, it } from 'vitest';
import { userNameKey } from '../src/index.js';
import { foldedKey } from '../src/store/user-name.js';

it('folds the look-alikes of issue 12 onto one key: long s, sharp s, spaces, NFD, full width', () => {
  const same = (a: string, b: string) =>
    expect(userNameKey(a), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`).toBe(userNameKey(b));
  same('sam', '\u017Fam');
  same('STRAßE', 'strasse');
  same('STRA\u1E9EE', 'strasse');
  same('ada', ' ada\u00A0');
  same('jos\u00E9', 'jose\u0301');
  same('ada', '\uFF41\uFF44\uFF41');
  same('ΟΔΟΣ', 'οδοσ');
  expect(userNameKey('sam')).not.toBe(userNameKey('sami'));
  expect(userNameKey('s am')).not.toBe(userNameKey('sam'));
});

// About a second alone; minutes of CPU-starved CI must not fail it (a hang would still be caught).
it('is idempotent, so a stored key looked up again finds itself', { timeout: 60_000 }, () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (name) => {
      expect(userNameKey(userNameKey(name))).toBe(userNameKey(name));
    }),
  );
});

it('takes its ASCII shortcut to the same key the full folding gives', () => {
  const ascii = fc.string({ unit: fc.integer({ min: 0, max: 0x7f }).map((c) => String.fromCharCode(c)) });
  fc.assert(
    fc.property(fc.oneof(ascii, fc.string({ unit: 'binary' })), (name) => {
      expect(userNameKey(name)).toBe(foldedKey(name));
    }),
    { numRuns: 5_000 },
  );
  for (const name of [' \t Ada@Example.COM \n', '\u0000X\u007f', '', 'I', 'SS'])
    expect(userNameKey(name)).toBe(foldedKey(name));
});
