import pg from 'pg';
import { applyMigrations } from '../schema.js';
import {
  RunAfterCommit,
  flushAppended,
  trackedExecutor,
  type Driver,
  type DriverStats,
  type Executor,
  type TxExecutor,
} from '../executor.js';

/** `?` placeholders → `$1, $2, …` (our SQL has no `?` inside string literals). */
const converted = new Map<string, string>();
export function toPositional(sql: string): string {
  let out = converted.get(sql);
  if (out === undefined) {
    let i = 0;
    out = sql.replace(/\?/g, () => `$${++i}`);
    converted.set(sql, out);
  }
  return out;
}

/** BIGINT columns come back as numbers; every amount fits in 2^53. */
const types: pg.CustomTypesConfig = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
};

function executorOf(client: pg.Pool | pg.PoolClient): Executor {
  // On one client (a transaction), statements issued without waiting (deferred ones) are
  // chained here, in order, rather than left to pg's deprecated internal queue. A pool
  // spreads reads over its connections and needs no chain.
  let last: Promise<unknown> = Promise.resolve();
  const query = (sql: string, params: readonly unknown[]) => {
    const send = () =>
      client.query({ text: toPositional(sql), values: params as unknown[], types });
    if (client instanceof pg.Pool) return send();
    const next = last.then(send, send);
    last = next.catch(() => undefined);
    return next;
  };
  const all = async <T>(sql: string, params: readonly unknown[] = []) =>
    (await query(sql, params)).rows as T[];
  return {
    all,
    get: async <T>(sql: string, params: readonly unknown[] = []) => (await all<T>(sql, params))[0],
    run: async (sql, params = []) => ({ changes: (await query(sql, params)).rowCount ?? 0 }),
  };
}

/** SQLSTATEs worth retrying: serialization failure, deadlock. */
const RETRYABLE = new Set(['40001', '40P01']);

export interface PostgresOptions {
  url: string;
  /** Connections in the pool. */
  max?: number;
  /** Schema to use (created if missing); tests give each run its own. */
  schema?: string;
}

/**
 * PostgreSQL: one transaction per operation. Concurrency between processes is held by the
 * database (row locks taken with `FOR UPDATE`, conditional updates, UNIQUE keys);
 * serialization failures and deadlocks are retried with backoff.
 */
export class PostgresDriver implements Driver {
  readonly dialect = 'postgres' as const;
  readonly lockRows = 'FOR UPDATE';
  readonly read: Executor;
  private counters = { writes: 0, commits: 0, queued: 0 };

  private constructor(private readonly pool: pg.Pool) {
    this.read = executorOf(pool);
  }

  static async open(opts: PostgresOptions): Promise<PostgresDriver> {
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.max ?? 16,
      ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
    });
    if (opts.schema) {
      if (!/^[a-z_][a-z0-9_]*$/.test(opts.schema))
        throw new Error(`bad schema name ${opts.schema}`);
      await pool.query(`CREATE SCHEMA IF NOT EXISTS ${opts.schema}`);
    }
    return new PostgresDriver(pool);
  }

  private async transaction<T>(begin: string, fn: (tx: TxExecutor) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const client = await this.pool.connect();
      const inner = executorOf(client);
      const tracked = trackedExecutor(inner);
      try {
        await client.query(begin);
        const value = await fn(tracked);
        const deferred = await tracked.drain();
        if (deferred) throw deferred;
        await flushAppended(inner, tracked.takeAppended());
        await client.query('COMMIT');
        return value;
      } catch (err) {
        await tracked.drain();
        await client.query('ROLLBACK').catch(() => undefined);
        const code = (err as { code?: string }).code;
        // RunAfterCommit: a key claimed by a transaction that has committed since; run again.
        if ((err instanceof RunAfterCommit || (code && RETRYABLE.has(code))) && attempt < 20) {
          await new Promise((r) =>
            setTimeout(r, Math.min(200, 2 ** attempt) * (0.5 + Math.random())),
          );
          continue;
        }
        throw err;
      } finally {
        client.release();
      }
    }
  }

  async write<T>(op: (tx: TxExecutor) => Promise<T>): Promise<T> {
    this.counters.queued += 1;
    try {
      const value = await this.transaction('BEGIN', op);
      this.counters.commits += 1;
      this.counters.writes += 1;
      return value;
    } finally {
      this.counters.queued -= 1;
    }
  }

  snapshot<T>(fn: (tx: TxExecutor) => Promise<T>): Promise<T> {
    return this.transaction('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY', fn);
  }

  async migrate(
    migrations: readonly { version: number; name: string; sql: string }[],
  ): Promise<number> {
    return this.transaction('BEGIN', async (tx) => {
      // One migrator at a time across processes.
      await tx.run('SELECT pg_advisory_xact_lock(7267126)');
      await tx.run(
        `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`,
      );
      return applyMigrations(tx, migrations);
    });
  }

  stats(): DriverStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
