export * from './types.js';
export type { Dialect, Driver, DriverStats, Executor } from './executor.js';
export { LedgerStore } from './ledger-store.js';
export { openStore } from './open-store.js';
export { SqliteDriver } from './sqlite/sqlite-driver.js';
export { migrationsFor } from './schema.js';
