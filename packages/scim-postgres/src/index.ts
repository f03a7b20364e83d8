export { type PostgresInbox, type PostgresInboxOptions, postgresInbox } from './inbox.js';
export { type Migration, migrations } from './migrations.js';
export {
  LOCK_TABLE_SHARE,
  MAX_RESOURCE_LOCKS,
  type PostgresStore,
  type PostgresStoreOptions,
  type PostgresTransaction,
  postgresStore,
  transactionClient,
} from './store.js';
