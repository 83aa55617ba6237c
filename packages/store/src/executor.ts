/** One SQL connection's worth of calls, with `?` placeholders in every dialect. */
export interface Executor {
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  run(sql: string, params?: readonly unknown[]): Promise<{ changes: number }>;
}

/**
 * The executor a write operation gets. Besides waiting calls, it can issue a statement
 * without waiting for it (`deferRun`, `deferAll`): the driver waits for every deferred
 * statement before the operation's savepoint or transaction ends, and a failure — or a
 * failed check — fails the operation as if it had been thrown. Defer only statements whose
 * effect nothing later in the same operation reads, and whose order against other
 * statements does not matter (statements with the same SQL text keep their order).
 */
export interface TxExecutor extends Executor {
  deferRun(sql: string, params: readonly unknown[], expectChanges?: number): void;
  deferAll<T>(sql: string, params: readonly unknown[], check: (rows: T[]) => void): void;
}

/** Wrap an executor so deferred statements are tracked until `drain()`. */
export function trackedExecutor(inner: Executor): TxExecutor & { drain(): Promise<Error | null> } {
  const inflight = new Set<Promise<unknown>>();
  let firstError: Error | null = null;
  const track = (p: Promise<unknown>) => {
    const t = p.catch((e: unknown) => {
      firstError ??= e instanceof Error ? e : new Error('a deferred statement failed', { cause: e });
    });
    inflight.add(t);
    void t.finally(() => inflight.delete(t));
  };
  return {
    all: (sql, params) => inner.all(sql, params),
    get: (sql, params) => inner.get(sql, params),
    run: (sql, params) => inner.run(sql, params),
    deferRun(sql, params, expectChanges) {
      track(
        inner.run(sql, params).then((r) => {
          if (expectChanges !== undefined && r.changes !== expectChanges) {
            throw new Error(`ledger bug: expected ${expectChanges} row(s) changed by: ${sql.slice(0, 80)}`);
          }
        }),
      );
    },
    deferAll<T>(sql: string, params: readonly unknown[], check: (rows: T[]) => void) {
      track(inner.all<T>(sql, params).then(check));
    },
    /** Wait for every deferred statement; returns the first failure, if any, and forgets it. */
    async drain() {
      while (inflight.size > 0) await Promise.all([...inflight]);
      const e = firstError;
      firstError = null;
      return e;
    },
  };
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
  write<T>(op: (tx: TxExecutor) => Promise<T>): Promise<T>;
  /** Run `fn` over one consistent view of committed state (used by verify). */
  snapshot<T>(fn: (tx: TxExecutor) => Promise<T>): Promise<T>;
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
