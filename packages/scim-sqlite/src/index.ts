export { type Migration, migrations } from './migrations.js';
export {
  type SqliteInbox,
  type SqliteInboxOptions,
  type SqliteStore,
  type SqliteStoreOptions,
  sqliteInbox,
  sqliteStore,
  transactionClient,
} from './store.js';
