export { type Migration, migrations } from './migrations.js';
export { type SqliteStore, type SqliteStoreOptions, sqliteStore, transactionClient } from './store.js';
