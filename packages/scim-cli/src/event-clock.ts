/**
 * `occurred_at` for the events `scim-sync trigger` sends. The engine applies an event only when it
 * is newer than the last one applied to the same user or group (an older one is `stale`), so each
 * timestamp must be later than every one sent before: later than the state file's newest (another
 * process, or a clock that went back) and than this process's last (two events in one millisecond).
 */

/** Nanoseconds since the epoch, read from the monotonic clock so that it moves within a millisecond. */
const epochOffset = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();

let lastIssued = 0n;

/** A timestamp in nanoseconds, now or just after `after` (and after every one issued before), whichever is later. */
export function nextOccurredAt(after?: bigint): bigint {
  let next = epochOffset + process.hrtime.bigint();
  if (next <= lastIssued) next = lastIssued + 1n;
  if (after !== undefined && next <= after) next = after + 1n;
  lastIssued = next;
  return next;
}
