import sqlite3 from 'sqlite3';
import { CreditsError } from '@credits/domain';
import type { Executor } from '../executor.js';

/**
 * The SQLite writer's connection-level pieces (`sqlite-driver.ts` runs the queue over them):
 * opening a connection, promise calls with cached prepared statements, a full disk as
 * STORAGE_FULL, and the transaction guard.
 */

export function open(filename: string, mode: number): Promise<sqlite3.Database> {
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(filename, mode, (err) => (err ? reject(err) : resolve(db)));
  });
}

/**
 * Promise calls on one sqlite3 connection, with prepared statements cached by SQL text:
 * the driver's one-off `db.all`/`db.run` prepare on a worker thread and then run on another
 * trip, so reusing a statement halves the round trips. `get` reads through `all`, which
 * resets the statement, so none stays open across a COMMIT.
 */
export function executorOf(db: sqlite3.Database): Executor & { finalize(): Promise<void> } {
  const cache = new Map<string, sqlite3.Statement>();
  // Least recently used out, and room for every multi-row text (7 kinds × 64 sizes) besides
  // the single statements: a hot statement is never prepared twice, so runs of the same SQL
  // text stay in order on one Statement.
  const statement = (sql: string): sqlite3.Statement => {
    let stmt = cache.get(sql);
    if (stmt) {
      cache.delete(sql);
    } else {
      stmt = db.prepare(sql);
      if (cache.size >= 2000) {
        const [oldest, old] = cache.entries().next().value as [string, sqlite3.Statement];
        cache.delete(oldest);
        old.finalize();
      }
    }
    cache.set(sql, stmt);
    return stmt;
  };
  /** A statement that failed (a prepare error sticks to it) is dropped, so a retry prepares anew. */
  const fail = (sql: string, err: Error, reject: (e: unknown) => void) => {
    const stmt = cache.get(sql);
    if (stmt) {
      cache.delete(sql);
      stmt.finalize();
    }
    reject(err);
  };
  const all = <T>(sql: string, params: readonly unknown[] = []) =>
    new Promise<T[]>((resolve, reject) =>
      statement(sql).all(params as unknown[], (err: Error | null, rows: unknown[]) =>
        err ? fail(sql, err, reject) : resolve(rows as T[]),
      ),
    );
  return {
    all,
    get: async <T>(sql: string, params: readonly unknown[] = []) => (await all<T>(sql, params))[0],
    run: (sql, params = []) =>
      new Promise((resolve, reject) =>
        statement(sql).run(
          params as unknown[],
          function (this: sqlite3.RunResult, err: Error | null) {
            if (err) fail(sql, err, reject);
            else resolve({ changes: this.changes });
          },
        ),
      ),
    finalize: async () => {
      await Promise.all(
        [...cache.values()].map(
          (st) => new Promise<void>((resolve) => st.finalize(() => resolve())),
        ),
      );
      cache.clear();
    },
  };
}

export function exec(db: sqlite3.Database, sql: string): Promise<void> {
  return new Promise((resolve, reject) => db.exec(sql, (err) => (err ? reject(err) : resolve())));
}

/**
 * A full disk (or a database at its size limit) is SQLITE_FULL: the write fails whole,
 * nothing of it is kept, and the caller gets STORAGE_FULL (503), retryable with the same
 * idempotency key once space is freed. Reads keep working.
 */
export function storageError(err: unknown): unknown {
  const code = (err as { code?: string } | null)?.code;
  if (code === 'SQLITE_FULL' || /SQLITE_FULL|database or disk is full/.test(String(err))) {
    const e = new CreditsError(
      'STORAGE_FULL',
      'The disk under the store is full; nothing was written. Retrying with the same idempotency key is safe once space is freed.',
      { retryable: true },
    );
    (e as Error & { cause?: unknown }).cause = err;
    return e;
  }
  return err;
}

/**
 * The transaction guard. SQLite may answer SQLITE_FULL (or an I/O error) by rolling back the
 * whole transaction, under the savepoints; statements the writer had already sent would then
 * run in autocommit, each applying on its own: a partial write. So every write on the writer
 * connection must happen inside the transaction that opened the batch: each batch puts one
 * row in a per-connection temporary table right after `BEGIN IMMEDIATE` and takes it out just
 * before `COMMIT`, and a temporary trigger on every table refuses any INSERT, UPDATE or DELETE
 * when that row is absent. If the transaction is rolled back, the row goes with it, and every
 * statement still queued fails instead of applying.
 */
const GUARD_PREFIX = 'cw_guard_';
export const GUARD_OPEN = 'BEGIN IMMEDIATE; INSERT INTO temp.cw_tx_guard (open) VALUES (1)';
export const GUARD_CLOSE = 'DELETE FROM temp.cw_tx_guard; COMMIT';

/** The `name` column of a query on the connection itself (outside any batch). */
function names(db: sqlite3.Database, sql: string): Promise<{ name: string }[]> {
  return new Promise((resolve, reject) =>
    db.all(sql, (err, rows: { name: string }[]) => (err ? reject(err) : resolve(rows))),
  );
}

export async function installGuards(db: sqlite3.Database): Promise<void> {
  const tables = await names(
    db,
    `SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`,
  );
  const sql = ['CREATE TEMP TABLE IF NOT EXISTS cw_tx_guard (open INTEGER NOT NULL)'];
  for (const { name } of tables) {
    for (const event of ['INSERT', 'UPDATE', 'DELETE']) {
      sql.push(
        `CREATE TEMP TRIGGER IF NOT EXISTS "${GUARD_PREFIX}${name}_${event.toLowerCase()}" BEFORE ${event} ON main."${name}" ` +
          `WHEN NOT EXISTS (SELECT 1 FROM temp.cw_tx_guard) ` +
          `BEGIN SELECT RAISE(ABORT, 'write outside its transaction'); END`,
      );
    }
  }
  await exec(db, sql.join(';\n'));
}

/** Drop the guards (a migration may rebuild or rename the tables they are on). */
export async function dropGuards(db: sqlite3.Database): Promise<void> {
  const triggers = await names(
    db,
    `SELECT name FROM temp.sqlite_master WHERE type = 'trigger' AND name LIKE '${GUARD_PREFIX}%'`,
  );
  if (triggers.length > 0) {
    await exec(db, triggers.map(({ name }) => `DROP TRIGGER temp."${name}"`).join(';\n'));
  }
}
