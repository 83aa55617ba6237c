export * from './types.js';
export type { Dialect, Driver, DriverStats, Executor } from './executor.js';
export { LedgerStore } from './ledger-store.js';
export { openStore } from './open-store.js';
export { SqliteDriver } from './sqlite/sqlite-driver.js';
export { migrationsFor } from './schema.js';
export { AccountStore, type ApiKeyRecord, type AuditEntry, type AuditInput, type Role, type User, type UserWithSecret } from './accounts-store.js';
export { BillingStore, type Notification, type Order, type OrderStatus } from './billing-store.js';
export type { CatalogView } from './ledger-tx.js';
