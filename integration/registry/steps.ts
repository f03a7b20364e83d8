/**
 * Test steps that build on each other (install, then typecheck, then start, …): once one fails the
 * later ones are skipped, so the report names the first broken promise instead of a cascade. Each
 * step's time is kept for the closing summary.
 */
import { performance } from 'node:perf_hooks';
import { it } from 'vitest';

export interface Steps {
  /** A test that runs only if every earlier step of this chain (and of its parent) passed. */
  step(name: string, fn: () => Promise<void>, timeoutMs: number): void;
  /** Whether a step of this chain or its parent failed. */
  broken(): string | undefined;
}

export const timings: { label: string; ms: number }[] = [];

/** Times `fn` under `label` in the summary. */
export async function timed<T>(label: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await fn();
  } finally {
    timings.push({ label, ms: Math.round(performance.now() - started) });
  }
}

export function steps(prefix: string, parent?: Steps): Steps {
  let failed: string | undefined;
  const broken = () => parent?.broken() ?? failed;
  return {
    broken,
    step(name, fn, timeoutMs) {
      it(
        name,
        async (context) => {
          const earlier = broken();
          if (earlier !== undefined) context.skip(`an earlier step failed: ${earlier}`);
          try {
            await timed(`${prefix}: ${name}`, fn);
          } catch (error) {
            failed = `${prefix}: ${name}`;
            throw error;
          }
        },
        timeoutMs,
      );
    },
  };
}

export function formatTimings(): string {
  const width = Math.max(...timings.map(({ label }) => label.length));
  return timings.map(({ label, ms }) => `${label.padEnd(width)}  ${(ms / 1000).toFixed(1).padStart(6)} s`).join('\n');
}
