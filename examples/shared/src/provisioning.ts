/**
 * The one place where scim-sync meets the app: each handler is one line into the user service.
 */
import { createEngine, memoryStore, type ProvisioningEngine, type ProvisioningStore } from '@org/scim-core';
import type { UserService } from './user-service.js';

export function createProvisioning(users: UserService, store: ProvisioningStore = memoryStore()): ProvisioningEngine {
  return createEngine({
    store,
    handlers: {
      userCreated: ({ user }) => users.createUser(user),
      userUpdated: ({ user }) => users.updateUser(user),
      userReactivated: ({ user }) => users.updateUser(user),
      userDeactivated: ({ user }) => users.deactivateUser(user.organizationId, user.id),
      groupCreated: ({ group }) => users.syncGroup(group),
      groupUpdated: ({ group }) => users.syncGroup(group),
      groupDeleted: ({ group }) => users.deleteGroup(group.organizationId, group.id),
      membershipAdded: ({ user, group }) => users.addToGroup(user.organizationId, user.id, group.id),
      membershipRemoved: ({ user, group }) => users.removeFromGroup(user.organizationId, user.id, group.id),
    },
  });
}
