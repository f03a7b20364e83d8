/** The store conformance suite against SQLite, in a file of its own. */
import { runStoreConformanceSuite } from '@org/scim-testing/conformance';
import Database from 'better-sqlite3';
import { type SqliteStore, sqliteStore, transactionClient } from '../src/index.js';
import { freshDatabase } from './database.js';

const database = freshDatabase('conformance');

runStoreConformanceSuite<SqliteStore>('sqliteStore', {
  create: async () => {
    const store = sqliteStore({ filename: database.filename });
    await store.migrate();
    const db = new Database(database.filename);
    db.exec('create table app_writes (value text not null)');
    db.close();
    return store;
  },
  destroy: async (store) => {
    await store.close();
    database.remove();
  },
  transactionWrite: async (tx, value) => {
    transactionClient(tx).prepare('insert into app_writes (value) values (?)').run(value);
  },
  readWrites: async () => {
    const db = new Database(database.filename, { readonly: true });
    try {
      return (db.prepare('select value from app_writes').all() as { value: string }[]).map((row) => row.value);
    } finally {
      db.close();
    }
  },
});
