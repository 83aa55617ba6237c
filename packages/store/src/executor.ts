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

/** Items by a key, in the order they came (keys in the order first seen). */
export function groupBy<K, T, V>(
  items: readonly T[],
  key: (item: T) => K,
  value: (item: T) => V,
): Map<K, V[]> {
  const out = new Map<K, V[]>();
  for (const item of items) {
    const k = key(item);
    let list = out.get(k);
    if (!list) out.set(k, (list = []));
    list.push(value(item));
  }
  return out;
}

/** `(?, ?, …)` for one row of `n` values. */
function placeholders(n: number): string {
  return `(${Array.from({ length: n }, () => '?').join(', ')})`;
}

/** Most rows in one multi-row statement (and so the most distinct statement texts per kind). */
const ROWS_PER_STATEMENT = 64;

/** Rows in chunks of at most {@link ROWS_PER_STATEMENT}, in order. */
function chunks<T>(rows: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT)
    out.push(rows.slice(i, i + ROWS_PER_STATEMENT));
  return out;
}

/** One INSERT of these rows of a {@link RowGroup}. */
function insertRows(
  group: RowGroup,
  rows: readonly (readonly unknown[])[],
): { sql: string; params: unknown[] } {
  const one = placeholders(group.columns);
  return {
    sql: `${group.head} ${rows.map(() => one).join(', ')}${group.tail ? ` ${group.tail}` : ''}`,
    params: rows.flat(),
  };
}

/** The row a checked addition returned must hold the values given as `after`. */
function checkAfter(
  target: AddTarget,
  key: readonly unknown[],
  row: Record<string, unknown> | undefined,
  after?: readonly number[],
): void {
  if (!row) throw new Error(`ledger bug: no ${target.table} row ${key.join('/')}`);
  if (after && target.columns.some((c, i) => Number(row[c]) !== after[i])) {
    throw new Error(`ledger bug: ${target.table} row ${key.join('/')} moved during a write`);
  }
}

/** One addition now: `UPDATE t SET c = c + ? … WHERE k = ? … RETURNING c …`, checked. */
function addOne(ex: Executor, a: Coalesced['adds'][number]): Promise<void> {
  const { target } = a;
  const sql = `UPDATE ${target.table} SET ${target.columns.map((c) => `${c} = ${c} + ?`).join(', ')}
    WHERE ${target.key.map((k) => `${k} = ?`).join(' AND ')} RETURNING ${target.columns.join(', ')}`;
  return ex.all<Record<string, unknown>>(sql, [...a.deltas, ...a.key]).then((rows) => {
    if (rows.length > 1)
      throw new Error(`ledger bug: ${rows.length} ${target.table} rows for ${a.key.join('/')}`);
    checkAfter(target, a.key, rows[0], a.after);
  });
}

/**
 * Send a pipelined group's inserts and additions: per RowGroup, multi-row INSERTs; per
 * AddTarget, the deltas for each row summed and all rows moved by `UPDATE … FROM (VALUES …)`
 * (SQLite; its VALUES columns are column1, column2, …). Returns the statements' promises,
 * each rejecting when its rows did not all go in or move as expected.
 */
export function sendCoalesced(ex: Executor, c: Coalesced): Promise<unknown>[] {
  const out: Promise<unknown>[] = [];
  for (const [group, rows] of groupBy(
    c.inserts,
    (i) => i.rows,
    (i) => i.params,
  )) {
    for (const chunk of chunks(rows)) {
      const { sql, params } = insertRows(group, chunk);
      out.push(
        ex.run(sql, params).then((r) => {
          if (r.changes !== chunk.length)
            throw new Error(
              `${chunk.length - r.changes} row(s) did not go in: ${group.head.slice(0, 50)}`,
            );
        }),
      );
    }
  }
  for (const [target, rows] of summedAdds(c.adds)) {
    const k = target.key.length;
    const one = placeholders(k + target.columns.length);
    for (const chunk of chunks(rows)) {
      const sql = `UPDATE ${target.table} SET ${target.columns.map((c, j) => `${c} = ${target.table}.${c} + v.column${k + j + 1}`).join(', ')}
        FROM (VALUES ${chunk.map(() => one).join(', ')}) AS v
        WHERE ${target.key.map((key, j) => `${target.table}.${key} = v.column${j + 1}`).join(' AND ')}
        RETURNING ${[...target.key, ...target.columns].join(', ')}`;
      out.push(
        ex
          .all<Record<string, unknown>>(
            sql,
            chunk.flatMap((r) => [...r.key, ...r.deltas]),
          )
          .then((back) => {
            const got = new Map(
              back.map((r) => [JSON.stringify(target.key.map((key) => r[key])), r]),
            );
            for (const r of chunk)
              checkAfter(target, r.key, got.get(JSON.stringify(r.key)), r.after);
          }),
      );
    }
  }
  return out;
}

/** One row's additions, summed over every operation that moved it. */
export interface SummedAdd {
  key: readonly unknown[];
  deltas: number[];
  /** The last `after` given for the row: what it must hold once all the deltas are in. */
  after?: readonly number[];
}

/** Additions per target, one row per key: deltas summed, the last `after` given kept. */
export function summedAdds(adds: Coalesced['adds']): Map<AddTarget, SummedAdd[]> {
  const out = new Map<AddTarget, SummedAdd[]>();
  for (const [target, list] of groupBy(
    adds,
    (a) => a.target,
    (a) => a,
  )) {
    const rows = new Map<string, SummedAdd>();
    for (const a of list) {
      const id = JSON.stringify(a.key);
      const row = rows.get(id);
      if (row) {
        a.deltas.forEach((d, i) => (row.deltas[i]! += d));
        row.after = a.after;
      } else {
        rows.set(id, { key: a.key, deltas: [...a.deltas], after: a.after });
      }
    }
    out.set(target, [...rows.values()]);
  }
  return out;
}

/** Rows appended by operations, waiting to be written. */
export type AppendedRows = { rows: RowGroup; params: readonly unknown[] }[];

/**
 * Write appended rows: one multi-row INSERT per group and up to {@link ROWS_PER_STATEMENT}
 * rows, rows in the order they came (so ledger entries keep their order: a group's chunks are
 * written one after another). Different groups are written at the same time.
 */
export async function flushAppended(ex: Executor, appended: AppendedRows): Promise<void> {
  if (appended.length === 0) return;
  // Groups go out together; one group's chunks one after another (chunks of different sizes
  // are different statements, which SQLite's driver may run in either order).
  const writes = [
    ...groupBy(
      appended,
      (a) => a.rows,
      (a) => a.params,
    ),
  ].map(async ([group, rows]) => {
    for (const chunk of chunks(rows)) {
      const { sql, params } = insertRows(group, chunk);
      await ex.run(sql, params);
    }
  });
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
  /**
   * The operation may run pipelined ({@link TxExecutor.pipelined}): it must be safe to run
   * again from the start (it changes nothing outside the transaction), write only through
   * deferred statements and appended rows, and read only rows that no pipelined operation
   * writes without the writer's cache knowing (SQLite only; ignored elsewhere). Default false.
   */
  pipelined?: boolean;
}

/** Freeze a value and everything in it. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** What a driver holds of an operation's executor besides the {@link TxExecutor} it hands over. */
export interface TrackedExecutor extends TxExecutor {
  /** Wait for every deferred statement; returns the first failure, if any, and forgets it. */
  drain(): Promise<Error | null>;
  /** The rows appended so far (forgotten here). */
  takeAppended(): AppendedRows;
  /** The operation succeeded: what it `set` in the cache is kept. */
  keepCache(): void;
  /** Pipelined: send the held statements, in the order they were deferred. */
  release(): void;
  /** Pipelined: how many deferred statements are held (not yet sent). */
  heldCount(): number;
  /** Pipelined: the inserts and additions the driver sends for the whole group. */
  takeCoalesced(): Coalesced;
}

/**
 * Wrap an executor so deferred statements are tracked until `drain()`, appended rows kept
 * until `takeAppended()`, and cache writes staged until `keepCache()` (given the writer's
 * `shared` cache; without one, `cache` is null).
 *
 * `pipelined`: the operation runs without a savepoint of its own, alongside others (see
 * {@link TxExecutor.pipelined}); its deferred statements are held until `release()` (an
 * operation that fails first has sent nothing), and it may only read with the waiting calls.
 */
export function trackedExecutor(
  inner: Executor,
  shared?: Map<string, unknown>,
  pipelined = false,
): TrackedExecutor {
  const inflight = new Set<Promise<unknown>>();
  let appended: AppendedRows = [];
  let held: (() => Promise<unknown>)[] | null = pipelined ? [] : null;
  let coalesced: Coalesced = { inserts: [], adds: [] };
  const staged = new Map<string, unknown>();
  const cache: OpCache | null = shared
    ? {
        get: <T>(key: string) =>
          (staged.has(key) ? staged.get(key) : shared.get(key)) as T | undefined,
        set: (key, value) => void staged.set(key, deepFreeze(value)),
        delete: (key) => {
          staged.delete(key);
          shared.delete(key);
        },
      }
    : null;
  let firstError: Error | null = null;
  const track = (send: () => Promise<unknown>) => {
    if (held) {
      held.push(send);
      return;
    }
    const t = send().catch((e: unknown) => {
      firstError ??=
        e instanceof Error ? e : new Error('a deferred statement failed', { cause: e });
    });
    inflight.add(t);
    void t.finally(() => inflight.delete(t));
  };
  const readOnly = (sql: string) => {
    if (pipelined && !/^\s*(SELECT|WITH|PRAGMA)\b/i.test(sql)) {
      throw new Error(
        `ledger bug: a pipelined operation may only read while it runs: ${sql.slice(0, 60)}`,
      );
    }
  };
  return {
    pipelined,
    all: (sql, params) => {
      readOnly(sql);
      return inner.all(sql, params);
    },
    get: (sql, params) => {
      readOnly(sql);
      return inner.get(sql, params);
    },
    run: (sql, params) => {
      readOnly(sql);
      return inner.run(sql, params);
    },
    deferRun(sql, params, expectChanges) {
      track(() =>
        inner.run(sql, params).then((r) => {
          if (expectChanges !== undefined && r.changes !== expectChanges) {
            throw new Error(
              `ledger bug: expected ${expectChanges} row(s) changed by: ${sql.slice(0, 80)}`,
            );
          }
        }),
      );
    },
    deferAll<T>(sql: string, params: readonly unknown[], check: (rows: T[]) => void) {
      track(() => inner.all<T>(sql, params).then(check));
    },
    append(rows, params) {
      if (params.length !== rows.columns)
        throw new Error(
          `ledger bug: ${rows.columns} values expected for: ${rows.head.slice(0, 60)}`,
        );
      appended.push({ rows, params });
    },
    insert(rows, params) {
      if (params.length !== rows.columns)
        throw new Error(
          `ledger bug: ${rows.columns} values expected for: ${rows.head.slice(0, 60)}`,
        );
      if (pipelined) {
        coalesced.inserts.push({ rows, params });
        return;
      }
      const { sql } = insertRows(rows, [params]);
      track(() =>
        inner.run(sql, params).then((r) => {
          if (r.changes !== 1)
            throw new Error(`ledger bug: the row did not go in: ${rows.head.slice(0, 60)}`);
        }),
      );
    },
    add(target, key, deltas, after) {
      if (deltas.length !== target.columns.length || key.length !== target.key.length) {
        throw new Error(`ledger bug: bad addition to ${target.table}`);
      }
      if (pipelined) coalesced.adds.push({ target, key, deltas, after });
      else track(() => addOne(inner, { target, key, deltas, after }));
    },
    takeCoalesced() {
      const out = coalesced;
      coalesced = { inserts: [], adds: [] };
      return out;
    },
    cache,
    keepCache() {
      if (!shared) return;
      for (const [k, v] of staged) shared.set(k, v);
      staged.clear();
    },
    takeAppended() {
      const out = appended;
      appended = [];
      return out;
    },
    heldCount() {
      return held?.length ?? 0;
    },
    release() {
      const sends = held ?? [];
      held = null;
      for (const send of sends) track(send);
    },
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
  /**
   * Where the writer's time went so far, in ms (SQLite's single writer): opening each
   * transaction, running operations, the steps between them, writing appended rows, and
   * committing (with its fsync).
   */
  writerMs?: { open: number; operations: number; steps: number; flush: number; commit: number };
  /** PostgreSQL: connections found broken so far (each cost at most one request). */
  connectionErrors?: number;
}
