/** One SQL connection's worth of calls, with `?` placeholders in every dialect. */
export interface Executor {
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  run(sql: string, params?: readonly unknown[]): Promise<{ changes: number }>;
}

export type Dialect = 'sqlite' | 'postgres';

/**
 * What a store adapter provides. The ledger is written once against this; each adapter
 * decides how writes become transactions (SQLite: one queue, grouped commits with a
 * savepoint per operation; PostgreSQL: a transaction per operation with row locks).
 */
export interface Driver {
  readonly dialect: Dialect;
  /** Suffix that locks selected rows until commit (`FOR UPDATE` on PostgreSQL, '' on SQLite). */
  readonly lockRows: string;
  /** Run `op` atomically: all its writes commit together or none do. Resolves after commit. */
  write<T>(op: (tx: Executor) => Promise<T>): Promise<T>;
  /** Run `fn` over one consistent view of committed state (used by verify). */
  snapshot<T>(fn: (tx: Executor) => Promise<T>): Promise<T>;
  /** Committed state, never blocked by writes. */
  readonly read: Executor;
  /** Schema set-up statements run in one transaction per migration. */
  migrate(migrations: readonly { version: number; name: string; sql: string }[]): Promise<number>;
  stats(): DriverStats;
  close(): Promise<void>;
}

export interface DriverStats {
  /** Operations committed so far. */
  writes: number;
  /** Commits so far (a commit may carry many operations). */
  commits: number;
  /** Operations waiting for the next commit. */
  queued: number;
}
