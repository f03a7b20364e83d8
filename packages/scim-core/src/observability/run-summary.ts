/**
 * What a reconciliation or backfill run leaves behind for `engine.health()`: kept by the store with
 * the run's finish (`ReconcileFinish.summary`), in the write that releases its lock anyway.
 */
import type { JsonValue } from '../store/types.js';

export type RunKind = 'reconciliation' | 'backfill';

export interface RunSummary {
  readonly kind: RunKind;
  /** The run's own status: `completed`, `guard_tripped`, `failed` (reconciliation); `completed`, `failed` (backfill). */
  readonly status: string;
  /** ISO 8601. */
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationMs: number;
  readonly pages: number;
  /** Flat counts: `users.created`, `groups.deleted` (reconciliation); `listed`, `applied`, `duplicate` (backfill). */
  readonly counts: Readonly<Record<string, number>>;
  /** Why it failed; the message is cut to 500 characters. */
  readonly error?: { readonly code: string; readonly message: string };
}

const MESSAGE_MAX = 500;

export function runSummary(summary: RunSummary): JsonValue {
  const { error, ...rest } = summary;
  return {
    ...rest,
    counts: { ...summary.counts },
    ...(error && { error: { code: error.code, message: error.message.slice(0, MESSAGE_MAX) } }),
  };
}

/** `{ users: { created: 1 } }` → `{ 'users.created': 1 }`. */
export function flatCounts(groups: Readonly<Record<string, Readonly<Record<string, number>>>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [group, counts] of Object.entries(groups)) {
    for (const [name, value] of Object.entries(counts)) out[`${group}.${name}`] = value;
  }
  return out;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** A stored summary read back: `undefined` for anything that is not one (a store's row from before). */
export function parseRunSummary(value: unknown): RunSummary | undefined {
  if (!isRecord(value)) return undefined;
  const { kind, status, startedAt, finishedAt, durationMs, pages, counts, error } = value;
  if (kind !== 'reconciliation' && kind !== 'backfill') return undefined;
  if (typeof status !== 'string' || typeof startedAt !== 'string' || typeof finishedAt !== 'string') return undefined;
  if (typeof durationMs !== 'number' || typeof pages !== 'number' || !isRecord(counts)) return undefined;
  const numbers: Record<string, number> = Object.create(null);
  for (const [name, count] of Object.entries(counts)) if (typeof count === 'number') numbers[name] = count;
  const failure =
    isRecord(error) && typeof error.code === 'string' && typeof error.message === 'string'
      ? { code: error.code, message: error.message }
      : undefined;
  return {
    kind,
    status,
    startedAt,
    finishedAt,
    durationMs,
    pages,
    counts: { ...numbers },
    ...(failure && { error: failure }),
  };
}
