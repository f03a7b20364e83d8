/** The fake's public data shapes: what tests seed, mutate and read back. */

/** A directory user as a test writes it. Fields left out of an update keep their old value. */
export interface FakeUserInput {
  /** The Scalekit id, `diruser_…` by convention (not enforced). */
  id: string;
  email?: string;
  preferredUsername?: string;
  givenName?: string;
  familyName?: string;
  name?: string;
  /** Default `true` on creation. Inactive users are still listed (Scalekit keeps them, `active: false`). */
  active?: boolean;
  /** The identity provider's id for the user: Scalekit's `dp_id`. */
  externalId?: string;
  roles?: string[];
  /** Ids of groups of the same directory; an unknown id throws. Replaces the whole membership. */
  groups?: string[];
  /** Extra snake_case profile keys (`department`, `title`, `employee_id`, …). JSON values only: they travel in a protobuf `Struct`. */
  attributes?: Record<string, unknown>;
  /** Scalekit's `custom_attributes`. JSON values only. */
  customAttributes?: Record<string, unknown>;
}

/** A snapshot of a user, for assertions. */
export interface FakeUser {
  id: string;
  organizationId: string;
  directoryId: string;
  email?: string;
  preferredUsername?: string;
  givenName?: string;
  familyName?: string;
  name?: string;
  active: boolean;
  externalId?: string;
  roles: string[];
  /** Group ids. */
  groups: string[];
  attributes: Record<string, unknown>;
  customAttributes: Record<string, unknown>;
  /** Nanoseconds since the epoch; strictly increasing across every stamp the fake hands out. */
  updatedAtNanos: bigint;
}

export interface FakeGroupInput {
  /** The Scalekit id, `dirgroup_…` by convention. */
  id: string;
  displayName: string;
  /** The identity provider's id for the group (`external_id`, or `dp_id` on `group_deleted`). */
  externalId?: string;
}

/** A snapshot of a group, for assertions. */
export interface FakeGroup {
  id: string;
  organizationId: string;
  directoryId: string;
  displayName: string;
  externalId?: string;
  /** How many users are members now. */
  totalUsers: number;
  updatedAtNanos: bigint;
}

export interface FakeOrganizationInput {
  id?: string;
  displayName?: string;
  externalId?: string;
}

export interface FakeDirectoryInput {
  id?: string;
  /** Scalekit's provider name: `OKTA` (default), `GOOGLE`, `MICROSOFT_AD`, `AUTH0`, `ONELOGIN`, `JUMPCLOUD`, `PING_IDENTITY`. */
  provider?: string;
  /** Default `true`. */
  enabled?: boolean;
}

export interface SeedOptions {
  users: number;
  groups: number;
  /** Memberships per user, spread evenly over the seeded groups. Default 2. */
  groupsPerUser?: number;
  /** Default: the organization's primary (first) directory. */
  directoryId?: string;
  /** Inserted into every generated id, so several seeds can share a directory. Default ''. */
  prefix?: string;
}

export interface SeedResult {
  /** Sorted, as the listing returns them. */
  userIds: string[];
  groupIds: string[];
}
