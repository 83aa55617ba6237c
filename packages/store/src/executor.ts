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
  /**
   * Add one row to a table that only grows within a write (ledger entries, completed jobs,
   * stored answers). The driver writes appended rows later, many per statement, inside the
   * same transaction and before it commits: an operation that fails drops its rows with
   * everything else it did. Until then, no write operation that declared
   * `readsAppended: false` may read them (SQLite flushes them before any operation that did
   * not), so append only rows that no later statement of the same operation reads.
   */
  append(rows: RowGroup, params: readonly unknown[]): void;
  /**
   * Rows the writer keeps between operations (SQLite's single writer; null elsewhere). See
   * {@link OpCache}.
   */
  readonly cache: OpCache | null;
}

/**
 * What the single SQLite writer remembers of rows it wrote, so a later operation on the same
 * wallet need not read them again. An operation sees its own `set`s at once; the others see
 * them only once it has succeeded (a rolled-back operation leaves nothing). `delete` is
 * immediate. The driver forgets everything when a transaction rolls back and when another
 * connection has committed since its last transaction (`PRAGMA data_version`). Values are
 * frozen: copy before changing.
 */
export interface OpCache {
  get<T>(key: string): T | undefined;
  set(key: string, value: unknown): void;
  delete(key: string): void;
}

/**
 * An INSERT written for many rows at once: `INSERT INTO t (a, b) VALUES (?, ?), (?, ?) …`,
 * with an optional tail (`ON CONFLICT …`). Declare each as a constant: rows are grouped by
 * the object.
 */
export interface RowGroup {
  /** `INSERT INTO t (a, b) VALUES` */
  readonly head: string;
  /** How many `?` one row takes. */
  readonly columns: number;
  /** After the rows, e.g. `ON CONFLICT (k) DO UPDATE SET v = excluded.v`. */
  readonly tail?: string;
}

/** Rows appended by operations, waiting to be written. */
export type AppendedRows = { rows: RowGroup; params: readonly unknown[] }[];

/** Most rows in one multi-row INSERT (and so the most distinct statement texts per group). */
const ROWS_PER_STATEMENT = 64;

/**
 * Write appended rows: one multi-row INSERT per group and up to {@link ROWS_PER_STATEMENT}
 * rows, groups in the order they were first appended, rows in the order they came (so ledger
 * entries keep their order). The statements are issued together and all awaited.
 */
export async function flushAppended(ex: Executor, appended: AppendedRows): Promise<void> {
  if (appended.length === 0) return;
  const byGroup = new Map<RowGroup, (readonly unknown[])[]>();
  for (const a of appended) {
    let list = byGroup.get(a.rows);
    if (!list) byGroup.set(a.rows, (list = []));
    list.push(a.params);
  }
  const writes: Promise<unknown>[] = [];
  for (const [group, rows] of byGroup) {
    const one = `(${Array.from({ length: group.columns }, () => '?').join(', ')})`;
    for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
      const chunk = rows.slice(i, i + ROWS_PER_STATEMENT);
      const sql = `${group.head} ${chunk.map(() => one).join(', ')}${group.tail ? ` ${group.tail}` : ''}`;
      writes.push(ex.run(sql, chunk.flat()));
    }
  }
  const outcomes = await Promise.allSettled(writes);
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Thrown by an operation that must run again after the current commit: it found an
 * idempotency key claimed by an operation of the same, still open, transaction whose answer
 * is not written yet. The driver rolls the operation back and runs it again later; its
 * caller sees only the second run.
 */
export class RunAfterCommit extends Error {
  constructor() {
    super('run again after the current commit');
    this.name = 'RunAfterCommit';
  }
}

/**
 * An expected outcome that undoes an operation (all it wrote rolls back) and says nothing
 * is wrong with the rows the writer remembers; the caller above the driver handles it.
 */
export class Rollback extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Rollback';
  }
}

/** Options for {@link Driver.write}. */
export interface WriteOptions {
  /**
   * False when the operation reads none of the rows operations append (ledger entries,
   * completed jobs, stored answers other than through its own key claim), so the driver need
   * not write waiting rows before it runs. Default true.
   */
  readsAppended?: boolean;
}

/** Freeze a value and everything in it. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/**
 * Wrap an executor so deferred statements are tracked until `drain()`, appended rows kept
 * until `takeAppended()`, and cache writes staged until `keepCache()` (given the writer's
 * `shared` cache; without one, `cache` is null).
 */
export function trackedExecutor(
  inner: Executor,
  shared?: Map<string, unknown>,
): TxExecutor & { drain(): Promise<Error | null>; takeAppended(): AppendedRows; keepCache(): void } {
  const inflight = new Set<Promise<unknown>>();
  let appended: AppendedRows = [];
  const staged = new Map<string, unknown>();
  const cache: OpCache | null = shared
    ? {
        get: <T>(key: string) => (staged.has(key) ? staged.get(key) : shared.get(key)) as T | undefined,
        set: (key, value) => void staged.set(key, deepFreeze(value)),
        delete: (key) => {
          staged.delete(key);
          shared.delete(key);
        },
      }
    : null;
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
    append(rows, params) {
      if (params.length !== rows.columns) throw new Error(`ledger bug: ${rows.columns} values expected for: ${rows.head.slice(0, 60)}`);
      appended.push({ rows, params });
    },
    cache,
    /** The operation succeeded: what it `set` in the cache is kept. */
    keepCache() {
      if (!shared) return;
      for (const [k, v] of staged) shared.set(k, v);
      staged.clear();
    },
    /** The rows appended so far (forgotten here). */
    takeAppended() {
      const out = appended;
      appended = [];
      return out;
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
  write<T>(op: (tx: TxExecutor) => Promise<T>, options?: WriteOptions): Promise<T>;
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
