/** One SQL connection's worth of calls, with `?` placeholders in every dialect. */
export interface Executor {
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  get<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  run(sql: string, params?: readonly unknown[]): Promise<{ changes: number }>;
}

/**
 * What a write operation says must happen, in its own terms; how each is sent (at once,
 * later, many to a statement, grouped with other operations) is the adapter's business.
 * Besides the waiting calls of {@link Executor} (reads, and writes whose outcome the
 * operation reads), an operation:
 *
 * - `write`s a statement whose outcome it does not read (given `expect`, the rows it must
 *   change — else it read something that has moved since, see {@link StaleRead});
 * - `insert`s a row that must go in (a conflict fails the operation);
 * - `append`s a row that only grows a log (ledger entries, a hold's lots, finished jobs) and
 *   that nothing in the same operation reads back;
 * - `add`s deltas to a row's numeric columns, checked against what it must hold afterwards;
 * - `claim`s its idempotency key and stores its answer with it;
 * - `recall`s, `remember`s and `forget`s what the store may keep between operations (a
 *   wallet's balances and live lots, a wallet's limits).
 *
 * Any failure of any of these fails the operation as if it had been thrown: nothing of it is
 * kept. Statements with the same SQL text keep their order; others may go in any order, so
 * `write` only statements whose order against the operation's other writes does not matter.
 */
export interface TxExecutor extends Executor {
  write(sql: string, params: readonly unknown[], expect?: number): void;
  /**
   * Add one row to a table that only grows (ledger entries, a hold's lots, finished jobs,
   * stored answers). It is written before the operation's transaction commits, and goes with
   * everything else if the operation fails. Only rows nothing in the same operation reads.
   */
  append(rows: RowGroup, params: readonly unknown[]): void;
  /** Insert one row; it must go in (a conflict fails the operation). */
  insert(rows: RowGroup, params: readonly unknown[]): void;
  /**
   * Add `deltas` to `target.columns` of the row whose key is `key`. The row must exist (and
   * the table's CHECKs hold); given `after`, it must hold exactly those values once every
   * operation committed with this one has moved it — so a row that moved under the operation
   * fails it.
   */
  add(
    target: AddTarget,
    key: readonly unknown[],
    deltas: readonly number[],
    after?: readonly number[],
  ): void;
  /**
   * Claim the operation's idempotency key (the database's UNIQUE key on scope and key
   * decides who has it); {@link KeyClaim.answer} stores the answer with it.
   */
  claim(key: KeyRow): KeyClaim;
  /**
   * What the store remembers of `key` as some operation committed it, when this operation may
   * plan on it; otherwise undefined, and the operation reads the database. Values are frozen.
   */
  recall<T>(key: string): T | undefined;
  /** This operation leaves `key` as `value`: kept once (and only if) it succeeds. */
  remember(key: string, value: unknown): void;
  /** This operation changes what `key` names in a way it does not remember: forget it. */
  forget(key: string): void;
}

/** An idempotency key's row, as an operation claims it. */
export interface KeyRow {
  scope: string;
  key: string;
  operation: string;
  requestHash: string;
  now: number;
}

/** An idempotency key claimed by an operation. */
export interface KeyClaim {
  /**
   * Whether this operation has the key (false: another operation took it first). It may be
   * known only when the operation's writes are sent: then it is true here, and a key found
   * taken then fails the operation, which the adapter runs again to find it taken.
   */
  readonly held: Promise<boolean>;
  /** Store the operation's answer (JSON) with its key, for replays. */
  answer(response: string): void;
}

/**
 * What an adapter remembers of rows operations wrote (behind {@link TxExecutor.recall}), so a
 * later operation on the same wallet need not read them again. An operation sees its own `set`s at once; the others see
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
 * Thrown by an adapter when an operation it runs grouped with others must run on its own
 * instead (it writes and waits for the outcome, e.g. a spending limit's counters). It never
 * reaches a caller.
 */
export class NeedsOwnRun extends Error {
  constructor(detail: string) {
    super(`run this operation on its own: ${detail}`);
    this.name = 'NeedsOwnRun';
  }
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
 * A checked write (see {@link TxExecutor.write}) found its rows not as the operation read
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

/** What {@link Driver.write} is told of an operation. */
export interface WriteOptions {
  /**
   * What the operation is (`reserve`, `charge`, `capture`, `release`, `grant`, …): the adapter
   * decides from it how to run the operation fast (see each adapter). Without it, the
   * operation runs on its own.
   */
  operation?: string;
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
