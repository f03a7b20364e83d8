/** The inbox conformance suite against SQLite, in a file of its own. */
import { runInboxConformanceSuite } from '@org/scim-testing/conformance';
import { type SqliteInbox, sqliteInbox, sqliteStore } from '../src/index.js';
import { freshDatabase } from './database.js';

const database = freshDatabase('inbox');

runInboxConformanceSuite<SqliteInbox>('sqliteInbox', {
  create: async () => {
    const store = sqliteStore({ filename: database.filename });
    await store.migrate();
    return sqliteInbox({ store });
  },
  destroy: async ({ store }) => {
    await store.close();
    database.remove();
  },
});
