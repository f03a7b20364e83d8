/** Builders for normalized events, and a reference "app" that records what its handlers did. */
import fc from 'fast-check';
import type {
  DirectoryEvent,
  DirectoryGroup,
  DirectoryUser,
  HandlerName,
  ProvisioningHandlers,
  ProvisioningStore,
  StoreOperations,
} from '../src/index.js';
import { formatNanos } from '../src/index.js';

export const ORG = 'org_1';
export const T0 = 1_750_000_000_000_000_000n;

let counter = 0;
export function eventId(): string {
  counter += 1;
  return `evt_${String(counter).padStart(8, '0')}`;
}

export function user(id: string, extra: Partial<DirectoryUser> = {}): DirectoryUser {
  return {
    id,
    organizationId: ORG,
    active: true,
    groups: [],
    roles: [],
    attributes: {},
    customAttributes: {},
    ...extra,
  };
}

export function group(id: string, extra: Partial<DirectoryGroup> = {}): DirectoryGroup {
  return { id, organizationId: ORG, displayName: id, ...extra };
}

const base = (at: bigint, id = eventId()) => ({
  id,
  organizationId: ORG,
  occurredAt: formatNanos(at),
  source: 'custom' as const,
  sourceType: 'test',
});

export const events = {
  userUpserted: (at: bigint, u: DirectoryUser, id?: string): DirectoryEvent => ({
    ...base(at, id),
    type: 'user.upserted',
    user: u,
  }),
  userDeleted: (at: bigint, userId: string, id?: string): DirectoryEvent => ({
    ...base(at, id),
    type: 'user.deleted',
    user: { id: userId, organizationId: ORG },
  }),
  groupUpserted: (at: bigint, g: DirectoryGroup, id?: string): DirectoryEvent => ({
    ...base(at, id),
    type: 'group.upserted',
    group: g,
  }),
  groupDeleted: (at: bigint, g: DirectoryGroup, id?: string): DirectoryEvent => ({
    ...base(at, id),
    type: 'group.deleted',
    group: g,
  }),
};

export interface AppUser {
  id: string;
  email: string | undefined;
  name: string | undefined;
  active: boolean;
  roles: string[];
  groups: string[];
}

/** An app's own user service, driven only by handlers; also counts calls per (handler, event id). */
export function referenceApp() {
  const users = new Map<string, AppUser>();
  const groups = new Map<string, string>();
  const calls = new Map<string, number>();
  /** Keyed by handler, event and target: one event legitimately adds several memberships. */
  const count = (name: HandlerName, event: { id: string }, target = '') => {
    const key = `${name} ${event.id} ${target}`.trim();
    calls.set(key, (calls.get(key) ?? 0) + 1);
  };
  const upsert = (u: DirectoryUser) => {
    const row = users.get(u.id);
    users.set(u.id, {
      id: u.id,
      email: u.email,
      name: u.name,
      active: u.active,
      roles: [...u.roles],
      groups: row?.groups ?? [],
    });
  };
  const handlers: ProvisioningHandlers = {
    userCreated: ({ user, event }) => {
      count('userCreated', event);
      upsert(user);
    },
    userUpdated: ({ user, event }) => {
      count('userUpdated', event);
      upsert(user);
    },
    userReactivated: ({ user, event }) => {
      count('userReactivated', event);
      upsert(user);
    },
    userDeactivated: ({ user, event }) => {
      count('userDeactivated', event);
      const row = users.get(user.id);
      if (row) row.active = false;
    },
    membershipAdded: ({ user, group, event }) => {
      count('membershipAdded', event, `${user.id}/${group.id}`);
      const row = users.get(user.id);
      if (row && !row.groups.includes(group.id)) row.groups = [...row.groups, group.id].sort();
    },
    membershipRemoved: ({ user, group, event }) => {
      count('membershipRemoved', event, `${user.id}/${group.id}`);
      const row = users.get(user.id);
      if (row) row.groups = row.groups.filter((g) => g !== group.id);
    },
    groupCreated: ({ group, event }) => {
      count('groupCreated', event);
      groups.set(group.id, group.displayName);
    },
    groupUpdated: ({ group, event }) => {
      count('groupUpdated', event);
      groups.set(group.id, group.displayName);
    },
    groupDeleted: ({ group, event }) => {
      count('groupDeleted', event);
      groups.delete(group.id);
    },
  };
  return { users, groups, calls, handlers };
}

/** Everything a store holds for one organization that the public API can read. */
export async function dumpStore(store: StoreOperations, organizationId = ORG) {
  const users = await store.listUsers(organizationId, { limit: 100_000 });
  const groups = await store.listGroups(organizationId, { limit: 100_000 });
  return { users, groups };
}

const WRITES = new Set<keyof ProvisioningStore>([
  'claimEvent',
  'completeEvent',
  'releaseEvent',
  'advanceVersion',
  'putUser',
  'deleteUser',
  'putGroup',
  'deleteGroup',
  'transaction',
]);

/** Wraps a store and counts calls that could write, so a test can assert that none happened. */
export function countingStore(store: ProvisioningStore): { store: ProvisioningStore; writes: () => number } {
  let writes = 0;
  const proxy = new Proxy(store, {
    get(target, key, receiver) {
      const value = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (WRITES.has(key as keyof ProvisioningStore)) writes += 1;
        return value.apply(target, args);
      };
    },
  });
  return { store: proxy, writes: () => writes };
}

/**
 * A handler that blocks until `release()`: `entered` resolves once a delivery is inside it, so a
 * test can send the next delivery while the first is provably in flight (no timing guesses).
 */
export function gatedHandler() {
  let release!: () => void;
  let enter!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const entered = new Promise<void>((resolve) => {
    enter = resolve;
  });
  return {
    handler: () => {
      enter();
      return gate;
    },
    entered,
    release,
  };
}

/**
 * Text that looks like a SCIM filter or attribute path, often malformed: arbitrary strings, or
 * space-joined filter tokens. For properties that bad input only ever meets a SCIM error.
 */
export function filterLikeText(maxTokens: number): fc.Arbitrary<string> {
  const tokens = fc.constantFrom(
    ...['userName', 'emails', 'members', 'value', 'type', 'eq', 'co', 'pr', 'and', 'or', 'not'],
    ...['(', ')', '[', ']', '"x"', '"', '.', ':', ' ', '\\', 'true', 'null', '1'],
    'urn:ietf:params:scim:schemas:core:2.0:User',
  );
  return fc.oneof(
    fc.string(),
    fc.array(tokens, { maxLength: maxTokens }).map((parts) => parts.join(' ')),
  );
}
