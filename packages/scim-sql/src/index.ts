export type {
  SqlConnection,
  SqlDialect,
  SqlDriver,
  SqlLock,
  SqlRow,
  SqlSession,
  SqlTable,
} from './dialect.js';
export { createSqlInbox, type SqlInboxOptions } from './inbox.js';
export { locksFor, MAX_RESOURCE_LOCKS } from './locks.js';
export {
  createSqlStore,
  type SqlStore,
  SqlStoreError,
  type SqlStoreOptions,
  TRANSACTION_ATTEMPTS,
  transactionSession,
} from './store.js';
