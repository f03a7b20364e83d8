export { type Migration, migrations } from './migrations.js';
export { type ReconcileSchedule, type ReconcileScheduleOptions, scheduleReconciliation } from './scheduler.js';
export {
  type PostgresStore,
  type PostgresStoreOptions,
  type PostgresTransaction,
  postgresStore,
  transactionClient,
} from './store.js';
