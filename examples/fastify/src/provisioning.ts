/**
 * The one place where scim-sync meets the app: each handler is one line into the user service.
 *
 * The app's roles come from the role mapping (`ACCESS_RULES` or `ACCESS_RULES_FILE`, see the
 * README): the engine works out each user's roles from its groups and directory roles, and calls
 * `accessChanged` with the roles the user holds now whenever they change.
 *
 * The store is picked at start from `DATABASE_URL`:
 * - unset: the in-memory store and the in-memory user service (`users.ts`); everything is forgotten
 *   on restart, and nothing beyond `@org/scim-core` is loaded;
 * - a `postgres://` URL: PostgreSQL (`postgres.ts`, which loads `pg` and `@org/scim-postgres` only then);
 * - a `mysql://` URL: MySQL or MariaDB (`mysql.ts`, which loads `mysql2` and `@org/scim-mysql` only then).
 */
import {
  type AccessOptions,
  createEngine,
  memoryStore,
  type ProvisioningEngine,
  type ProvisioningStore,
  type StoreOperations,
} from '@org/scim-core';
import { type AppConfig, accessOptions } from '@org/scim-core/app';
import { createUserService, type UserService, type UserWrites } from './users.js';

/**
 * The user service the handlers of one event write through, given that event's store transaction
 * (`tx`). In memory it is always the same one; on PostgreSQL or MySQL it is one on the event's
 * transaction, so the app's rows commit together with the ledger entry (see `postgres.ts`, `mysql.ts`).
 */
export type UsersForEvent = (tx: StoreOperations) => UserWrites;

/**
 * The engine on `store`, its handlers writing through `users`. `access` says where the role
 * mapping comes from (`accessOptions(config)`: `ACCESS_RULES`, else the rules saved in the store).
 */
export function createProvisioning(
  users: UserWrites | UsersForEvent,
  store: ProvisioningStore = memoryStore(),
  access: AccessOptions = {},
): ProvisioningEngine {
  const on: UsersForEvent = typeof users === 'function' ? users : () => users;
  return createEngine({
    store,
    access,
    // On PostgreSQL or MySQL, webhooks that arrive during a burst share one claim and one transaction
    // (group commit). Safe here: every handler writes through `tx`, so a run that rolls back undoes
    // them all. In memory it changes nothing.
    coalesce: true,
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
      // `roles`: every role the user holds now (granted by the mapping, or by your admins by hand).
      accessChanged: ({ user, roles, tx }) => on(tx).setRoles(user.organizationId, user.id, roles),
    },
  });
}

export interface Provisioning {
  /** For the start-up line: `in-memory store`, `PostgreSQL, schema scim_example` or `MySQL, tables scim_example_*`. */
  readonly description: string;
  /** The app's user service for everything outside a handler, e.g. `GET /api/users` (on a database: the pool). */
  readonly users: UserService;
  /** The engine the webhook receiver, the SCIM server and reconciliation share. */
  readonly engine: ProvisioningEngine;
  /** Ends the database pool (nothing to do in memory). Call it when the server stops. */
  close(): Promise<void>;
}

/** The store and the user service `config.database` names, ready to use, with the role mapping `config.access`. */
export async function openProvisioning(config: Pick<AppConfig, 'database' | 'access'>): Promise<Provisioning> {
  const access = accessOptions(config);
  if (config.database?.kind === 'postgres') {
    const { openPostgres } = await import('./postgres.js');
    return openPostgres(config.database, access);
  }
  if (config.database?.kind === 'mysql') {
    const { openMysql } = await import('./mysql.js');
    return openMysql(config.database, access);
  }
  const users = createUserService();
  return {
    description: 'in-memory store',
    users,
    engine: createProvisioning(users, memoryStore(), access),
    close: async () => {},
  };
}
