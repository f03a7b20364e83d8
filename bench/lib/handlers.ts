/**
 * The handlers every benchmark engine runs (engine-inprocess and every adapter server): small,
 * synchronous, writing to `Map`s, counting their calls. The same in every server, so adapters are
 * compared on equal work.
 *
 * Self-contained (type-only imports): the Next.js fixture app bundles it.
 */
import type { HandlerName, ProvisioningHandlers } from '@org/scim-core';

export interface MapHandlers {
  handlers: ProvisioningHandlers;
  users: Map<string, unknown>;
  groups: Map<string, unknown>;
  memberships: Map<string, Set<string>>;
  /** How many times each handler ran. */
  calls: Map<HandlerName, number>;
  /** Counts for a JSON answer: users, groups, handler calls. */
  state(): { users: number; groups: number; handlerCalls: Record<string, number> };
}

export function createMapHandlers(): MapHandlers {
  const users = new Map<string, unknown>();
  const groups = new Map<string, unknown>();
  const memberships = new Map<string, Set<string>>();
  const calls = new Map<HandlerName, number>();
  const count = (name: HandlerName) => calls.set(name, (calls.get(name) ?? 0) + 1);
  const member = (userId: string) => {
    let set = memberships.get(userId);
    if (!set) {
      set = new Set();
      memberships.set(userId, set);
    }
    return set;
  };
  const handlers: ProvisioningHandlers = {
    userCreated: ({ user }) => {
      count('userCreated');
      users.set(user.id, user);
    },
    userUpdated: ({ user }) => {
      count('userUpdated');
      users.set(user.id, user);
    },
    userReactivated: ({ user }) => {
      count('userReactivated');
      users.set(user.id, user);
    },
    userDeactivated: ({ user }) => {
      count('userDeactivated');
      users.set(user.id, user);
    },
    groupCreated: ({ group }) => {
      count('groupCreated');
      groups.set(group.id, group);
    },
    groupUpdated: ({ group }) => {
      count('groupUpdated');
      groups.set(group.id, group);
    },
    groupDeleted: ({ group }) => {
      count('groupDeleted');
      groups.delete(group.id);
    },
    membershipAdded: ({ user, group }) => {
      count('membershipAdded');
      member(user.id).add(group.id);
    },
    membershipRemoved: ({ user, group }) => {
      count('membershipRemoved');
      member(user.id).delete(group.id);
    },
  };
  return {
    handlers,
    users,
    groups,
    memberships,
    calls,
    state: () => ({ users: users.size, groups: groups.size, handlerCalls: Object.fromEntries(calls) }),
  };
}
