/**
 * The one place where scim-sync meets the app: each handler is one line into the user service.
 */
import {
  createEngine,
  memoryStore,
  type ProvisioningEngine,
  type ProvisioningStore,
  type StoreOperations,
} from '@org/scim-core';
import type { UserWrites } from './user-service.js';

/**
 * The user service the handlers of one event write through, given that event's store transaction
 * (`tx`). In memory it is always the same one; on PostgreSQL it is one on the event's transaction,
 * so the app's rows commit together with the ledger entry (see `storage.ts`).
 */
export type UsersForEvent = (tx: StoreOperations) => UserWrites;

export function createProvisioning(
  users: UserWrites | UsersForEvent,
  store: ProvisioningStore = memoryStore(),
): ProvisioningEngine {
  const on: UsersForEvent = typeof users === 'function' ? users : () => users;
  return createEngine({
    store,
    handlers: {
      userCreated: ({ user, tx }) => on(tx).createUser(user),
      userUpdated: ({ user, tx }) => on(tx).updateUser(user),
      userReactivated: ({ user, tx }) => on(tx).updateUser(user),
      userDeactivated: ({ user, tx }) => on(tx).deactivateUser(user.organizationId, user.id),
      groupCreated: ({ group, tx }) => on(tx).syncGroup(group),
      groupUpdated: ({ group, tx }) => on(tx).syncGroup(group),
      groupDeleted: ({ group, tx }) => on(tx).deleteGroup(group.organizationId, group.id),
      membershipAdded: ({ user, group, tx }) => on(tx).addToGroup(user.organizationId, user.id, group.id),
      membershipRemoved: ({ user, group, tx }) => on(tx).removeFromGroup(user.organizationId, user.id, group.id),
    },
  });
}
