/**
 * A run's checkpoint: enough to continue a run that crashed or failed from the last page it
 * finished. Stores keep it as opaque JSON; it is validated when read back, and one that does not
 * fit (an older format) is ignored, so the run starts over rather than resuming wrongly.
 */
import { z } from 'zod';

const count = z.number().int().nonnegative();

const userCountsSchema = z.object({
  listed: count,
  created: count,
  updated: count,
  reactivated: count,
  deactivated: count,
  removed: count,
  unchanged: count,
  stale: count,
  otherOrigin: count.default(0),
});

const groupCountsSchema = z.object({
  listed: count,
  created: count,
  updated: count,
  deleted: count,
  unchanged: count,
  stale: count,
  otherOrigin: count.default(0),
});

export const checkpointSchema = z.object({
  v: z.literal(1),
  runId: z.string().min(1),
  mode: z.enum(['full', 'incremental']),
  directoryId: z.string().nullable(),
  /** Nanoseconds since the epoch, as a decimal string: when the listing began; the sweep's version. */
  startedAt: z.string().regex(/^\d+$/),
  /** ISO 8601, for incremental runs. */
  updatedAfter: z.string().nullable(),
  /** The phase to continue with, and the page token within it (`null`: from its first page). */
  phase: z.enum(['groups', 'users', 'sweep', 'done']),
  pageToken: z.string().nullable(),
  users: userCountsSchema,
  groups: groupCountsSchema,
  /** How many listed resources the mirror already held: the guard's denominator, with the unseen. */
  mirrored: z.object({ users: count, groups: count }),
});

export type Checkpoint = z.infer<typeof checkpointSchema>;

export const newCounts = {
  users: (): Checkpoint['users'] => ({
    listed: 0,
    created: 0,
    updated: 0,
    reactivated: 0,
    deactivated: 0,
    removed: 0,
    unchanged: 0,
    stale: 0,
    otherOrigin: 0,
  }),
  groups: (): Checkpoint['groups'] => ({
    listed: 0,
    created: 0,
    updated: 0,
    deleted: 0,
    unchanged: 0,
    stale: 0,
    otherOrigin: 0,
  }),
};

/** The checkpoint a store handed back, or `undefined` when there is none or it does not fit. */
export function parseCheckpoint(value: unknown): Checkpoint | undefined {
  if (value === undefined || value === null) return undefined;
  const parsed = checkpointSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
