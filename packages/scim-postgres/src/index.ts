export { type Migration, migrations } from './migrations.js';
export { type ReconcileSchedule, type ReconcileScheduleOptions, scheduleReconciliation } from './scheduler.js';
export {
  MAX_RESOURCE_LOCKS,
  type PostgresStore,
  type PostgresStoreOptions,
  type PostgresTransaction,
  postgresStore,
  transactionClient,
} from './store.js';
