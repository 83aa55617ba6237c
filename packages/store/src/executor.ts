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
   * Insert one row, deferred; it must go in (a conflict fails the operation). Pipelined, the
   * group's rows of one kind go in as one multi-row INSERT.
   */
  insert(rows: RowGroup, params: readonly unknown[]): void;
  /**
   * Add `deltas` to `target.columns` of the row whose key is `key`, deferred. The row must
   * exist (and the table's CHECKs hold); given `after`, it must hold exactly those values
   * afterwards — so a row that moved under the operation fails it. Pipelined, the group's
   * deltas for one row are summed and every row of a target moves in one
   * `UPDATE … FROM (VALUES …)`, checked against the last `after` given for it.
   */
  add(
    target: AddTarget,
    key: readonly unknown[],
    deltas: readonly number[],
    after?: readonly number[],
  ): void;
  /**
   * Rows the writer keeps between operations (SQLite's single writer; null elsewhere). See
   * {@link OpCache}.
   */
  readonly cache: OpCache | null;
  /**
   * True when the operation runs pipelined (SQLite, `write(…, { pipelined: true })`): with no
   * savepoint of its own, its deferred statements sent only once it has returned, and checked
   * after the operations beside it ran. It may read while it runs, but every write must be
   * deferred or appended; a failed statement or check sends the whole group back to run again
   * one operation at a time. Elsewhere false.
   */
  readonly pipelined: boolean;
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

/** Numeric columns of one table that operations add to, by key (balances, lot remainders). */
export interface AddTarget {
  readonly table: string;
  readonly key: readonly string[];
  readonly columns: readonly string[];
  /**
   * Where a statement moving several targets locks this one: lower first (a wallet before
   * its lots, the order every transaction takes). Default 0.
   */
  readonly lockRank?: number;
}

/** Rows inserted and additions made by pipelined operations, to send as one group. */
export interface Coalesced {
  inserts: { rows: RowGroup; params: readonly unknown[] }[];
  adds: {
    target: AddTarget;
    key: readonly unknown[];
    deltas: readonly number[];
    after?: readonly number[];
  }[];
}

/** Rows appended by operations, waiting to be written. */
export type AppendedRows = { rows: RowGroup; params: readonly unknown[] }[];

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
 * A checked write (see {@link TxExecutor.deferRun}) found its rows not as the operation read
 * them: another write got there first. Nothing of the operation is kept, and the adapter runs
 * it again from the start, so it decides on what it reads then (as {@link RunAfterCommit}).
 */
export class StaleRead extends RunAfterCommit {
  constructor(readonly detail: string) {
    super();
    this.name = 'StaleRead';
    this.message = `a checked write found its rows moved: ${detail}`;
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
  /**
   * The operation may run pipelined ({@link TxExecutor.pipelined}): it must be safe to run
   * again from the start (it changes nothing outside the transaction), write only through
   * deferred statements and appended rows, and read only rows that no pipelined operation
   * writes without the writer's cache knowing (SQLite only; ignored elsewhere). Default false.
   */
  pipelined?: boolean;
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
  /**
   * Where the writer's time went so far, in ms (SQLite's single writer): opening each
   * transaction, running operations, the steps between them, writing appended rows, and
   * committing (with its fsync).
   */
  writerMs?: { open: number; operations: number; steps: number; flush: number; commit: number };
  /** PostgreSQL: connections found broken so far (each cost at most one request). */
  connectionErrors?: number;
}
