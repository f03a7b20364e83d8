/** Source calls retried while the remote side is rate limiting or unavailable: shared by reconciliation and backfill. */
import { DirectorySourceError } from './source.js';

export interface RetryPolicy {
  /** Attempts per call, the first included. */
  readonly attempts: number;
  /** First back-off; doubles per attempt, with jitter. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

/** Thrown by `sleep` when the caller's signal aborts the wait. */
export class AbortedError extends Error {
  override readonly name = 'AbortedError';
}

export function sleep(ms: number, signal: AbortSignal | undefined, aborted: () => Error): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(aborted());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Runs `run`, again with jittered exponential back-off (or the source's own `retryAfterMs`) while it
 * fails `rate_limited` or `unavailable`, up to `policy.attempts`; any other failure at once.
 */
export async function withRetry<T>(
  policy: RetryPolicy,
  signal: AbortSignal | undefined,
  aborted: () => Error,
  run: () => Promise<T>,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      const retryable =
        error instanceof DirectorySourceError && (error.code === 'rate_limited' || error.code === 'unavailable');
      if (!retryable || attempt >= policy.attempts) {
        if (retryable) error.message += ` (gave up after ${attempt} attempts)`;
        throw error;
      }
      const backoff = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
      await sleep(error.retryAfterMs ?? backoff / 2 + Math.random() * (backoff / 2), signal, aborted);
    }
  }
}
