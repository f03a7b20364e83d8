/** The users both SCIM servers of `scim.ts` are seeded with, and what the servers share. */

/** The bearer token the load generator sends (both servers accept only it). */
export const SCIM_BENCH_TOKEN = 'scim_bench_token_not_a_secret_0123456789abcdefghij';
export const SCIM_BASE_PATH = '/scim/v2';
export const CORE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';

/** `user${n}@bench.test`, n from 1. */
export const userNameOf = (n: number) => `user${n}@bench.test`;

/** User n as an IdP would POST it (no `id`, `meta`). */
export function scimUserBody(n: number): Record<string, unknown> {
  return {
    schemas: [CORE_USER_SCHEMA],
    userName: userNameOf(n),
    externalId: `ext-${n}`,
    name: { givenName: `Given${n}`, familyName: `Family${n}` },
    displayName: `Given${n} Family${n}`,
    emails: [{ value: userNameOf(n), type: 'work', primary: true }],
    active: true,
  };
}

/** SCIM_USERS from the environment (default 100,000). */
export function userCountFromEnv(): number {
  const count = Number(process.env.SCIM_USERS ?? 100_000);
  if (!Number.isInteger(count) || count < 1) throw new Error(`SCIM_USERS must be a positive integer, got ${count}`);
  return count;
}

/** The display name of the one group both servers hold. */
export const BENCH_GROUP_NAME = 'bench-group';

/**
 * How many users the bench group holds: users 1..N. SCIM_GROUP_MEMBERS (default 10,000), at most
 * one less than the users, so user N + 1 is there to be added.
 */
export function groupMembersFromEnv(users: number): number {
  const members = Number(process.env.SCIM_GROUP_MEMBERS ?? Math.min(10_000, users - 1));
  if (!Number.isInteger(members) || members < 1 || members >= users)
    throw new Error(`SCIM_GROUP_MEMBERS must be an integer from 1 to ${users - 1} (SCIM_USERS - 1), got ${members}`);
  return members;
}
