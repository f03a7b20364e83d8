import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatMillisIso, formatNanos, parseRfc3339Nanos as parseNanos } from '../src/time.js';

/** The formula formatNanos had before it remembered the second it formatted last. */
const reference = (nanos: bigint) => {
  const fraction = (((nanos % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(Number(nanos / 1_000_000n)).toISOString().slice(0, 19)}.${fraction}Z`;
};

describe('formatNanos', () => {
  it('formats any instant to 9999 as before, in any order (the remembered second never leaks), and parses back', () => {
    const nanos = fc.bigInt({ min: 0n, max: 253_402_300_799_999_999_999n });
    // Runs of nearby instants (same second, next second) as a stamping server makes them, and jumps.
    const runs = fc.array(
      fc.tuple(nanos, fc.array(fc.bigInt({ min: -2_000_000_000n, max: 2_000_000_000n }), { maxLength: 6 })),
      {
        maxLength: 20,
      },
    );
    fc.assert(
      fc.property(runs, (list) => {
        for (const [start, steps] of list) {
          for (const at of [start, ...steps.map((step) => start + step)].filter((n) => n >= 0n)) {
            const text = formatNanos(at);
            expect(text).toBe(reference(at));
            if (at <= 253_402_300_799_999_999_999n) expect(parseNanos(text)).toBe(at);
          }
        }
      }),
      { numRuns: 500 },
    );
  });

  it('formatMillisIso writes what toISOString writes, at any instant, interleaved with formatNanos', () => {
    // Both share the remembered seconds: a creation time and a write's stamp, alternating.
    const nanos = fc.bigInt({ min: -62_000_000_000_000_000_000n, max: 8_000_000_000_000_000_000_000n });
    fc.assert(
      fc.property(fc.array(fc.tuple(nanos, fc.bigInt({ min: 0n, max: 3_000_000_000n })), { maxLength: 20 }), (list) => {
        for (const [at, later] of list) {
          expect(formatMillisIso(at)).toBe(new Date(Number(at / 1_000_000n)).toISOString());
          if (at >= 0n) expect(formatNanos(at)).toBe(reference(at));
          expect(formatMillisIso(at + later)).toBe(new Date(Number((at + later) / 1_000_000n)).toISOString());
        }
      }),
      { numRuns: 500 },
    );
  });
});
