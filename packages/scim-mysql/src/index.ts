export { MAX_KEY_BYTES } from './dialect.js';
export { type Migration, migrations } from './migrations.js';
export {
  type MysqlInbox,
  type MysqlInboxOptions,
  type MysqlStore,
  type MysqlStoreOptions,
  mysqlInbox,
  mysqlStore,
  transactionClient,
} from './store.js';
