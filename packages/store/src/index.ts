export * from './types.js';
export type * from './controls/types.js';
export { AUTO_TOP_UP_ACTOR } from './controls/auto-top-up-purchases.js';
export type {
  AddTarget,
  AppendedRows,
  Coalesced,
  Dialect,
  Driver,
  DriverStats,
  Executor,
  OpCache,
  RowGroup,
  TxExecutor,
  WriteOptions,
} from './executor.js';
export { Rollback, RunAfterCommit } from './executor.js';
export { flushAppended, trackedExecutor } from './tracked-executor.js';
export { LedgerStore } from './ledger-store.js';
export { openServingStore, openStore } from './open-store.js';
export { WorkerStore } from './worker/worker-store.js';
export { SqliteDriver } from './sqlite/sqlite-driver.js';
export { migrationsFor } from './schema.js';
export { accountStore } from './accounts-store.js';
export type { CatalogView } from './ledger-tx.js';
export { copyStore, COPY_TABLES } from './store-copy.js';
export { PostgresDriver } from './postgres/postgres-driver.js';
