export { MAX_KEY_BYTES } from './dialect.js';
export { type Migration, migrations } from './migrations.js';
export { type MysqlStore, type MysqlStoreOptions, mysqlStore, transactionClient } from './store.js';
