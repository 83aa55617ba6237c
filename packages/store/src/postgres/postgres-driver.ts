import pg from 'pg';
import { CreditsError } from '@credits/domain';
import { applyMigrations } from '../schema.js';
import {
  RunAfterCommit,
  type Driver,
  type DriverStats,
  type Executor,
  type TxExecutor,
  type WriteOptions,
} from '../executor.js';
import { flushAppended, trackedExecutor } from '../tracked-executor.js';
import { OneStatementWriter, RememberedWallets } from './one-statement.js';

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
  // Once a statement of a transaction fails, every later one fails with 25P02 ("current
  // transaction is aborted"): those answer with the first failure instead, so whoever
  // catches one sees the cause (a deadlock or serialization failure, which is retried).
  let firstFailure: Error | null = null;
  const query = (sql: string, params: readonly unknown[]) => {
    if (client instanceof pg.Pool) {
      return client.query({ text: toPositional(sql), values: params as unknown[], types });
    }
    const send = () =>
      client
        .query({ text: toPositional(sql), values: params as unknown[], types })
        .catch((err: unknown) => {
          if ((err as { code?: string }).code === '25P02' && firstFailure) throw firstFailure;
          firstFailure ??= err instanceof Error ? err : new Error(String(err));
          throw err;
        });
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

/** The same executor with every statement sent through `wrap`. */
function wrapExecutor(ex: Executor, wrap: <R>(send: () => Promise<R>) => Promise<R>): Executor {
  return {
    all: <T>(sql: string, params?: readonly unknown[]) => wrap(() => ex.all<T>(sql, params)),
    get: <T>(sql: string, params?: readonly unknown[]) => wrap(() => ex.get<T>(sql, params)),
    run: (sql, params) => wrap(() => ex.run(sql, params)),
  };
}

/** SQLSTATEs worth retrying: serialization failure, deadlock. */
const RETRYABLE = new Set(['40001', '40P01']);

/**
 * The connection, not the statement, failed: the server closed it (`pg_terminate_backend`
 * gives 57P01, a restart 57P02/57P03, an idle transaction past its timeout 25P03), the
 * network dropped it, or the server refused a new one (too many clients). Whatever the
 * transaction did on it is rolled back by the server unless COMMIT was already sent.
 */
export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: string }).code ?? '';
  if (code.startsWith('08') || ['57P01', '57P02', '57P03', '25P03', '53300'].includes(code))
    return true;
  if (['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH'].includes(code))
    return true;
  return /Connection terminated|connection error|not queryable|Connection ended/i.test(err.message);
}

/** The statement waited too long: a row lock past `lock_timeout` or a statement past `statement_timeout`. */
function isTimeout(err: unknown): boolean {
  const code = (err as { code?: string } | null)?.code;
  return code === '55P03' || code === '57014';
}

const SAFE_RETRY = 'Retrying with the same idempotency key is safe: it takes effect at most once.';

/**
 * The error a caller sees when the database failed its request: STORE_UNAVAILABLE
 * (HTTP 503), retryable with the same key. `committing`: the connection was lost after COMMIT
 * was sent, so the write may or may not have taken effect; the retry finds out (a key that
 * committed replays its stored answer).
 */
export function storeUnavailable(
  err: unknown,
  how: 'connection' | 'committing' | 'timeout',
): CreditsError {
  const message =
    how === 'committing'
      ? `The database connection was lost while this request was committing, so it may or may not have taken effect. ${SAFE_RETRY}`
      : how === 'timeout'
        ? `The database did not answer in time (a row stayed locked or a statement ran too long). ${SAFE_RETRY}`
        : `The database is unreachable or dropped the connection; nothing was written. ${SAFE_RETRY}`;
  const e = new CreditsError('STORE_UNAVAILABLE', message, {
    retryable: true,
    cause: how,
    sqlstate: (err as { code?: string } | null)?.code ?? null,
  });
  (e as Error & { cause?: unknown }).cause = err;
  return e;
}

export interface PostgresOptions {
  url: string;
  /** Connections in the pool. */
  max?: number;
  /** Schema to use (created if missing); tests give each run its own. */
  schema?: string;
  /** `statement_timeout` of every connection, ms (default 30 000; 0 turns it off). */
  statementTimeoutMs?: number;
  /** `lock_timeout`: longest wait for a row lock, ms (default 10 000; 0 turns it off). */
  lockTimeoutMs?: number;
  /** `idle_in_transaction_session_timeout`, ms (default 30 000; 0 turns it off). */
  idleInTransactionTimeoutMs?: number;
  /**
   * Longest wait for a connection from the pool, ms, including the wait for a free one
   * under load (default 0: no limit; a database that is down refuses at once).
   */
  connectTimeoutMs?: number;
  /** Told of every connection-level failure (the pool heals by itself; for logs). */
  onConnectionError?: (err: Error) => void;
  /**
   * Reserve and charge statements in flight at once, each for its own share of the wallets
   * (see {@link OneStatementWriter}); default {@link DEFAULT_STATEMENTS_IN_FLIGHT}.
   */
  statementsInFlight?: number;
}

/**
 * Statements of pipelined operations in flight at once (one per lane of wallets). One: on the
 * 2-CPU bench machine, where the server, the load and PostgreSQL share the CPUs, 2 or 4 showed
 * no gain beyond the noise; more may pay where the database has cores of its own.
 */
const DEFAULT_STATEMENTS_IN_FLIGHT = 1;

/** Times an operation runs again on a fresh connection after losing one before COMMIT. */
const CONNECTION_RETRIES = 3;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The operations the ledger names ({@link WriteOptions.operation}) that go to the database
 * as one statement with the others waiting beside them ({@link OneStatementWriter}): their
 * writes are inserts and checked additions only. Any other runs as a transaction.
 */
const ONE_STATEMENT: ReadonlySet<string> = new Set(['reserve', 'charge']);

/** Options the PostgreSQL driver also takes directly (its own tests). */
export interface PostgresWriteOptions extends WriteOptions {
  /** Offer the operation to the one-statement writer; default from the operation. */
  pipelined?: boolean;
}

/**
 * PostgreSQL: one transaction per operation. Concurrency between processes is held by the
 * database (row locks taken with `FOR UPDATE`, conditional updates, UNIQUE keys);
 * serialization failures and deadlocks are retried with backoff.
 *
 * Connection failures cost one request, never the process: the pool and every client
 * checked out have an `error` listener; a client whose connection failed is released with
 * the error (the pool discards it and opens a new one when needed). An operation whose
 * connection was lost before COMMIT was sent ran nothing that lasts and runs again on a fresh
 * connection (up to {@link CONNECTION_RETRIES} times); after that, or when the connection was
 * lost after COMMIT was sent (the outcome is unknown), the caller gets STORE_UNAVAILABLE and
 * retries with the same idempotency key, which applies at most once. A statement stuck on a
 * lock past `lock_timeout` (or running past `statement_timeout`) is STORE_UNAVAILABLE too.
 */
export class PostgresDriver implements Driver {
  readonly dialect = 'postgres' as const;
  readonly lockRows = 'FOR UPDATE';
  readonly read: Executor;
  private counters = { writes: 0, commits: 0, queued: 0, connectionErrors: 0 };
  /**
   * Wallets as this process last wrote them, for pipelined operations to plan on without
   * reading (see {@link OneStatementWriter}); every ordinary transaction that opens a wallet
   * forgets it, and the wallet's version catches any other writer.
   */
  private readonly cache = new Map<string, unknown>();
  /** What ordinary transactions see of it: wallets only (see {@link RememberedWallets}). */
  private readonly walletsOnly = new RememberedWallets(this.cache, null);
  private readonly oneStatement: OneStatementWriter;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly onConnectionError?: (err: Error) => void,
    statementsInFlight = DEFAULT_STATEMENTS_IN_FLIGHT,
  ) {
    // A read lost with its connection is read again once on another; then STORE_UNAVAILABLE.
    this.read = wrapExecutor(executorOf(pool), async (send) => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await send();
        } catch (err) {
          if (isConnectionError(err)) {
            this.connectionLost(err as Error);
            if (attempt < 1) continue;
            throw storeUnavailable(err, 'connection');
          }
          if (isTimeout(err)) throw storeUnavailable(err, 'timeout');
          throw err;
        }
      }
    });
    // An idle connection that fails (terminated, network gone) is reported here; the pool
    // has already dropped it. Without this listener Node would end the process.
    pool.on('error', (err) => this.connectionLost(err));
    // And every client keeps a listener of its own for good: pg can report a dead socket on a
    // client in a moment when neither the pool's listener nor a request's is attached.
    pool.on('connect', (client) => client.on('error', () => undefined));
    this.oneStatement = new OneStatementWriter(
      this.read,
      this.cache,
      (op) => this.write(op),
      this.counters,
      statementsInFlight,
    );
  }

  private connectionLost(err: Error): void {
    this.counters.connectionErrors += 1;
    this.onConnectionError?.(err);
  }

  static async open(opts: PostgresOptions): Promise<PostgresDriver> {
    if (opts.schema && !/^[a-z_][a-z0-9_]*$/.test(opts.schema))
      throw new Error(`bad schema name ${opts.schema}`);
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.max ?? 16,
      statement_timeout: opts.statementTimeoutMs ?? 30_000,
      lock_timeout: opts.lockTimeoutMs ?? 10_000,
      idle_in_transaction_session_timeout: opts.idleInTransactionTimeoutMs ?? 30_000,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 0,
      ...(opts.schema ? { options: `-c search_path=${opts.schema}` } : {}),
    });
    const driver = new PostgresDriver(
      pool,
      opts.onConnectionError,
      opts.statementsInFlight ?? DEFAULT_STATEMENTS_IN_FLIGHT,
    );
    if (opts.schema) {
      // Several processes may start at once: a schema created by another meanwhile is fine.
      await driver.read.run(`CREATE SCHEMA IF NOT EXISTS ${opts.schema}`).catch((err: unknown) => {
        if (
          (err as { code?: string }).code !== '23505' &&
          (err as { code?: string }).code !== '42P06'
        )
          throw err;
      });
    }
    return driver;
  }

  private async connect(): Promise<pg.PoolClient> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.pool.connect();
      } catch (err) {
        // Waited for a free connection past `connectTimeoutMs`: the pool is saturated.
        if (err instanceof Error && /timeout exceeded when trying to connect/.test(err.message))
          throw storeUnavailable(err, 'timeout');
        if (!isConnectionError(err)) throw err;
        this.connectionLost(err as Error);
        if (attempt >= CONNECTION_RETRIES) throw storeUnavailable(err, 'connection');
        await sleep(Math.min(500, 50 * 2 ** attempt) * (0.5 + Math.random()));
      }
    }
  }

  private async transaction<T>(begin: string, fn: (tx: TxExecutor) => Promise<T>): Promise<T> {
    let lostConnections = 0;
    for (let attempt = 0; ; attempt++) {
      const client = await this.connect();
      // A checked-out client has no listener of the pool's: without ours, a connection that
      // fails between two statements would end the process.
      let broken: Error | null = null;
      const onError = (err: Error) => {
        broken ??= err;
      };
      client.on('error', onError);
      // A lock or statement timeout aborts the transaction; the operation may then see only
      // "current transaction is aborted" from a statement it sent alongside: remember it.
      let timedOut = false;
      const inner = wrapExecutor(executorOf(client), (send) =>
        send().catch((err: unknown) => {
          if (isTimeout(err)) timedOut = true;
          throw err;
        }),
      );
      const tracked = trackedExecutor(inner, this.walletsOnly);
      let committing = false;
      try {
        await client.query(begin);
        const value = await fn(tracked);
        const deferred = await tracked.drain();
        if (deferred) throw deferred;
        await flushAppended(inner, tracked.takeAppended());
        committing = true;
        await client.query('COMMIT');
        tracked.keepCache();
        return value;
      } catch (err) {
        await tracked.drain();
        const lost = broken !== null || isConnectionError(err);
        if (!lost) await client.query('ROLLBACK').catch(() => undefined);
        else {
          broken ??= err instanceof Error ? err : new Error(String(err));
          this.connectionLost(broken);
          // Lost before COMMIT was sent: the server rolled it all back; run it again on a
          // fresh connection. Lost during COMMIT: unknown outcome, the caller decides.
          if (committing) throw storeUnavailable(err, 'committing');
          if (lostConnections++ < CONNECTION_RETRIES) {
            await sleep(Math.min(200, 20 * 2 ** lostConnections) * (0.5 + Math.random()));
            continue;
          }
          throw storeUnavailable(err, 'connection');
        }
        if (timedOut || isTimeout(err)) throw storeUnavailable(err, 'timeout');
        const code = (err as { code?: string }).code;
        // RunAfterCommit: a key claimed by a transaction that has committed since; run again.
        if ((err instanceof RunAfterCommit || (code && RETRYABLE.has(code))) && attempt < 20) {
          await sleep(Math.min(200, 2 ** attempt) * (0.5 + Math.random()));
          continue;
        }
        throw err;
      } finally {
        client.removeListener('error', onError);
        // A broken client is discarded, never handed to the next request.
        client.release(broken ?? undefined);
      }
    }
  }

  /**
   * One transaction per operation; pipelined ones (reserve, charge) go as one statement with
   * the others waiting beside them (see {@link OneStatementWriter}).
   */
  async write<T>(op: (tx: TxExecutor) => Promise<T>, options?: PostgresWriteOptions): Promise<T> {
    if (options?.pipelined ?? ONE_STATEMENT.has(options?.operation ?? ''))
      return this.oneStatement.write(op);
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
    const { connectionErrors, ...counters } = this.counters;
    return {
      ...counters,
      queued: counters.queued + this.oneStatement.queued,
      connectionErrors,
    };
  }

  /** Most reserve and charge statements that were in flight at once so far. */
  get peakStatementsInFlight(): number {
    return this.oneStatement.peakInFlight;
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
