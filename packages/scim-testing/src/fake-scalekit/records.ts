/**
 * What the fake stores: plain objects, no protobuf messages. Messages are built per page when a
 * listing answers, so 100,000 seeded users cost little more than their strings.
 */
import type { FakeUser } from './types.js';

export type UserRecord = FakeUser;

export interface GroupRecord {
  id: string;
  organizationId: string;
  directoryId: string;
  displayName: string;
  externalId?: string;
  updatedAtNanos: bigint;
  /** Member user ids, sorted: the `directoryGroupId` filter pages over it directly. */
  memberIds: string[];
}

export interface DirectoryRecord {
  id: string;
  organizationId: string;
  provider: string;
  enabled: boolean;
  updatedAtNanos: bigint;
  users: Map<string, UserRecord>;
  /** Every user id, sorted: the keyset the listing pages over. */
  userIds: string[];
  groups: Map<string, GroupRecord>;
  groupIds: string[];
  /** Bumped by every change to the directory's users or groups; invalidates cached filtered views. */
  version: number;
  views: Map<string, { version: number; ids: string[] }>;
}

export interface OrganizationRecord {
  id: string;
  displayName: string;
  externalId?: string;
  createdAtNanos: bigint;
  updatedAtNanos: bigint;
  /** In the order they were added; the first is the primary one. */
  directories: DirectoryRecord[];
}

/** Strictly increasing nanosecond stamps from a millisecond clock: never two equal, even within a millisecond. */
export function createNanoClock(now: () => number): () => bigint {
  let last = 0n;
  return () => {
    const reading = BigInt(Math.trunc(now())) * 1_000_000n;
    last = reading > last ? reading : last + 1n;
    return last;
  };
}
