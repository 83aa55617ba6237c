import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import sqlite3 from 'sqlite3';
import { CreditsError } from '@credits/domain';
import { applyMigrations } from '../schema.js';
import {
  GUARD_CLOSE,
  GUARD_OPEN,
  dropGuards,
  exec,
  executorOf,
  installGuards,
  open,
  storageError,
} from './connection.js';
import {
  Rollback,
  RunAfterCommit,
  type Coalesced,
  type AppendedRows,
  type Driver,
  type DriverStats,
  type Executor,
  type TxExecutor,
  type WriteOptions,
} from '../executor.js';
import { sendCoalesced, flushAppended, trackedExecutor } from '../tracked-executor.js';

/**
 * How this writer runs the operations the ledger names ({@link WriteOptions.operation}):
 * grouped ones run pipelined with the grouped operations beside them (see
 * {@link SqliteDriver.commitBatch}); any other runs on its own, in a savepoint. A grouped
 * operation that turns out to need a write it waits for (a spending limit's counters, an
 * audit row) runs on its own after the group.
 */
const GROUPED: ReadonlySet<string> = new Set(['reserve', 'charge', 'capture', 'release']);

/**
 * Operations that read none of the rows operations append (ledger entries, finished jobs, a
 * hold's lots of this batch, stored answers other than through their own key's claim), so the
 * rows waiting to be written need not go in before them. A hold's lots are read only by its
 * settlement, which names a hold whose reserve has been answered, so committed.
 */
const READS_NO_APPENDED: ReadonlySet<string> = new Set([
  'reserve',
  'charge',
  'capture',
  'release',
  'grant',
]);

/** Options the SQLite writer also takes directly (its own tests): how to run an operation. */
export interface SqliteWriteOptions extends WriteOptions {
  /** Run grouped (see {@link GROUPED}); default from the operation. */
  pipelined?: boolean;
  /** Written appended rows must go in first (see {@link READS_NO_APPENDED}); default from the operation. */
  readsAppended?: boolean;
}

/** Most times one operation runs again after a commit before its failure is its answer. */
const MAX_AGAIN = 8;

type Op = {
  run: (tx: TxExecutor) => Promise<unknown>;
  readsAppended: boolean;
  pipelined: boolean;
  /** How many times it was sent to run again after a commit (see {@link RunAfterCommit}). */
  again: number;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
};

export interface SqliteOptions {
  /** A file path; its folder is created. */
  filename: string;
  /** Most operations grouped into one commit. */
  maxBatch?: number;
}

/**
 * The embedded store. All writes go through one queue: the operations waiting when a commit
 * starts run in one `BEGIN IMMEDIATE … COMMIT`, each inside its own savepoint, so one
 * operation's failure rolls back only its own savepoint. Callers are answered after COMMIT
 * returns (with `synchronous=FULL`, after the WAL is on disk). Reads use a second,
 * read-only connection that sees committed state only.
 */
export class SqliteDriver implements Driver {
  readonly dialect = 'sqlite' as const;
  readonly lockRows = '';
  readonly read: Executor & { finalize(): Promise<void> };
  private readonly tx: Executor & { finalize(): Promise<void> };
  private queue: Op[] = [];
  private draining = false;
  private closed = false;
  private counters = { writes: 0, commits: 0 };
  private readonly writerMs = { open: 0, operations: 0, steps: 0, flush: 0, commit: 0 };
  /** Rows the writer remembers between operations (see {@link OpCache}). */
  private readonly cache = new Map<string, unknown>();
  /** `PRAGMA data_version` at the start of the last transaction. */
  private dataVersion: number | null = null;
  private readonly maxBatch: number;
  /** A statement of the current batch found the disk full. */
  private full = false;

  private constructor(
    private readonly writer: sqlite3.Database,
    private readonly reader: sqlite3.Database,
    maxBatch: number,
  ) {
    // SQLITE_FULL may roll the whole transaction back under the savepoints, so the batch
    // then fails on a missing savepoint: remember that the disk was full.
    const tx = executorOf(writer);
    const seen = <R>(p: Promise<R>): Promise<R> =>
      p.catch((err: unknown) => {
        if (storageError(err) !== err) this.full = true;
        throw err;
      });
    this.tx = {
      all: (sql, params) => seen(tx.all(sql, params)),
      get: (sql, params) => seen(tx.get(sql, params)),
      run: (sql, params) => seen(tx.run(sql, params)),
      finalize: () => tx.finalize(),
    };
    this.read = executorOf(reader);
    this.maxBatch = maxBatch;
  }

  static async open(opts: SqliteOptions): Promise<SqliteDriver> {
    mkdirSync(dirname(opts.filename), { recursive: true });
    const writer = await open(opts.filename, sqlite3.OPEN_READWRITE | sqlite3.OPEN_CREATE);
    writer.configure('busyTimeout', 10_000);
    // temp_store in memory: the transaction guard must not need the disk it guards against.
    await exec(
      writer,
      `PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;`,
    );
    await installGuards(writer);
    const reader = await open(opts.filename, sqlite3.OPEN_READONLY);
    reader.configure('busyTimeout', 10_000);
    return new SqliteDriver(writer, reader, opts.maxBatch ?? 512);
  }

  write<T>(op: (tx: TxExecutor) => Promise<T>, options?: SqliteWriteOptions): Promise<T> {
    if (this.closed) return Promise.reject(new Error('store is closed'));
    const operation = options?.operation ?? '';
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        run: op,
        readsAppended: options?.readsAppended ?? !READS_NO_APPENDED.has(operation),
        pipelined: options?.pipelined ?? GROUPED.has(operation),
        again: 0,
        resolve: resolve as (v: unknown) => void,
        reject,
      });
      if (!this.draining) void this.drain();
    });
  }

  snapshot<T>(fn: (tx: TxExecutor) => Promise<T>): Promise<T> {
    // The writer is exclusive while a batch runs, so a read inside the queue is consistent.
    return this.write(fn);
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        await this.commitBatch(batch);
        // Let the callers just answered submit their next operation before the next batch
        // starts, so batches stay full instead of alternating full and single.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * One transaction for the batch. Operations run in the order they came, in two ways:
   *
   * - one at a time, each in a savepoint of its own, so one operation's failure rolls back
   *   only its own work;
   * - pipelined (`write(…, { pipelined: true })`, consecutive ones as a group): each runs as
   *   soon as the one before it has returned, its deferred statements are sent without waiting
   *   (SQLite runs them in the order sent per statement), and the group waits once, inside one
   *   savepoint, for all of them. An operation that throws before sending anything runs again
   *   on its own after the group. If any statement or check of the group failed, the group's
   *   savepoint rolls back and every operation of it runs again, one at a time: callers only
   *   ever see the one-at-a-time outcome.
   *
   * Appended rows are written before an operation that may read them (outside any savepoint,
   * so a later rollback of one operation cannot take them), and the rest before COMMIT.
   * Nobody is answered before COMMIT returns.
   */
  private async commitBatch(batch: Op[]): Promise<void> {
    const outcomes = new Map<Op, { ok: boolean | 'again'; value: unknown }>();
    const waiting: AppendedRows = [];
    const ms = this.writerMs;
    let t = performance.now();
    const lap = (phase: keyof typeof ms) => {
      const now = performance.now();
      ms[phase] += now - t;
      t = now;
    };
    /** SQL owed to the connection before anything else is sent (the end of a savepoint). */
    let owed = '';
    const step = async (sql: string) => {
      const all = owed ? `${owed}; ${sql}` : sql;
      owed = '';
      if (all) await exec(this.writer, all);
    };
    const flush = async () => {
      if (waiting.length === 0) return;
      // Rows may go in inside a savepoint about to be released (a failed flush fails the whole
      // batch anyway), never inside one about to be rolled back.
      if (owed.startsWith('ROLLBACK')) await step('');
      await flushAppended(this.tx, waiting.splice(0));
      lap('flush');
    };

    /** Run one operation in its own savepoint; leaves the savepoint's end owed. */
    const isolated = async (op: Op) => {
      if (op.readsAppended) await flush();
      await step('SAVEPOINT op');
      lap('steps');
      const tracked = trackedExecutor(this.tx, this.cache);
      let ok: boolean | 'again' = false;
      let value: unknown;
      try {
        value = await op.run(tracked);
        const deferred = await tracked.drain();
        if (deferred) throw deferred;
        ok = true;
      } catch (err) {
        // Nothing of this operation may still be running when its savepoint rolls back.
        await tracked.drain();
        value = err;
        if (err instanceof RunAfterCommit) ok = 'again';
        // An expected refusal (a CreditsError) is decided before anything is written; any
        // other failure may mean the writer's memory of some row is wrong: forget it all.
        else if (!(err instanceof CreditsError || err instanceof Rollback)) this.cache.clear();
      }
      lap('operations');
      const rows = tracked.takeAppended();
      if (ok === true) {
        waiting.push(...rows);
        tracked.keepCache();
      }
      outcomes.set(op, { ok, value });
      owed = ok === true ? 'RELEASE op' : 'ROLLBACK TO op; RELEASE op';
    };

    /** Run consecutive pipelined operations as one group (see above). */
    const group = async (ops: Op[]) => {
      await step('SAVEPOINT grp');
      lap('steps');
      const ran: { op: Op; tracked: ReturnType<typeof trackedExecutor>; value: unknown }[] = [];
      const alone: Op[] = [];
      for (const op of ops) {
        const tracked = trackedExecutor(this.tx, this.cache, true);
        try {
          const value = await op.run(tracked);
          tracked.release();
          tracked.keepCache();
          ran.push({ op, tracked, value });
        } catch {
          // It sent nothing: run it on its own after the group, where its outcome is exact.
          alone.push(op);
        }
      }
      // The group's inserts and additions, one statement per kind of row.
      const whole: Coalesced = { inserts: [], adds: [] };
      for (const r of ran) {
        const c = r.tracked.takeCoalesced();
        whole.inserts.push(...c.inserts);
        whole.adds.push(...c.adds);
      }
      const together = await Promise.allSettled(sendCoalesced(this.tx, whole));
      const failures = await Promise.all(ran.map((r) => r.tracked.drain()));
      lap('operations');
      if (failures.some((f) => f !== null) || together.some((o) => o.status === 'rejected')) {
        // Something in the group failed (a key already taken, a check): undo the group and
        // run each of its operations on its own.
        this.cache.clear();
        owed = 'ROLLBACK TO grp; RELEASE grp';
        for (const op of ops) await isolated(op);
        return;
      }
      for (const r of ran) {
        waiting.push(...r.tracked.takeAppended());
        outcomes.set(r.op, { ok: true, value: r.value });
      }
      owed = 'RELEASE grp';
      for (const op of alone) await isolated(op);
    };

    try {
      await exec(this.writer, GUARD_OPEN);
      // With the write lock held: has another connection committed since our last
      // transaction? (Our own commits do not change it.) Then what we remember may be stale.
      const [row] = await this.tx.all<{ data_version: number }>('PRAGMA data_version');
      const version = Number(row?.data_version);
      if (version !== this.dataVersion) this.cache.clear();
      this.dataVersion = version;
      lap('open');
      for (let i = 0; i < batch.length;) {
        if (batch[i]!.pipelined) {
          let j = i;
          while (j < batch.length && batch[j]!.pipelined) j++;
          await group(batch.slice(i, j));
          i = j;
        } else {
          await isolated(batch[i]!);
          i++;
        }
      }
      await flush();
      await step(GUARD_CLOSE);
      lap('commit');
    } catch (err) {
      // A savepoint step, a flush or the commit failed: nothing in this batch happened.
      this.cache.clear();
      await exec(this.writer, 'ROLLBACK').catch(() => undefined);
      const reason = this.full ? storageError({ code: 'SQLITE_FULL', cause: err }) : err;
      this.full = false;
      for (const op of batch) op.reject(storageError(reason));
      return;
    }
    this.full = false;
    this.counters.commits += 1;
    const again: Op[] = [];
    for (const op of batch) {
      const o = outcomes.get(op)!;
      // Run again after this commit; the writer is exclusive, so a second run decides on
      // what this one committed, and a check that keeps failing is a bug, not a race.
      if (o.ok === 'again' && ++op.again <= MAX_AGAIN) again.push(op);
      else if (o.ok === true) op.resolve(o.value);
      else op.reject(storageError(o.value));
    }
    this.counters.writes += batch.length - again.length;
    // First in the next batch: their answers depend on what this one just committed.
    this.queue.unshift(...again);
  }

  async migrate(
    migrations: readonly { version: number; name: string; sql: string }[],
  ): Promise<number> {
    await exec(
      this.writer,
      `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
    );
    await this.write(async () => dropGuards(this.writer));
    try {
      return await this.write((tx) => applyMigrations(tx, migrations));
    } finally {
      await this.write(async () => installGuards(this.writer));
    }
  }

  stats(): DriverStats {
    return { ...this.counters, queued: this.queue.length, writerMs: { ...this.writerMs } };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.draining || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
    await Promise.all([this.tx.finalize(), this.read.finalize()]);
    await Promise.all(
      [this.writer, this.reader].map(
        (db) =>
          new Promise<void>((resolve, reject) =>
            db.close((err) => (err ? reject(err) : resolve())),
          ),
      ),
    );
  }
}
