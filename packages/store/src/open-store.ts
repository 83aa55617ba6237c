import { LedgerStore } from './ledger-store.js';
import type { PostgresOptions } from './postgres/postgres-driver.js';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { SqliteDriver } from './sqlite/sqlite-driver.js';
import type { Store } from './types.js';
import { WorkerStore } from './worker/worker-store.js';

/**
 * Open the store a URL names: `postgres://…` selects PostgreSQL; `sqlite:PATH` or a bare
 * path selects the embedded SQLite file.
 *
 * @example
 * const store = await openStore({ url: 'sqlite:./data/credits.db' });
 * await store.migrate();
 */
export async function openStore(opts: {
  url: string;
  maxBatch?: number;
  schema?: string;
  /** PostgreSQL only: pool size, timeouts, a listener for connection failures. */
  postgres?: Omit<PostgresOptions, 'url' | 'schema'>;
}): Promise<LedgerStore> {
  if (/^postgres(ql)?:\/\//.test(opts.url)) {
    const { PostgresDriver } = await import('./postgres/postgres-driver.js');
    return new LedgerStore(
      await PostgresDriver.open({ ...opts.postgres, url: opts.url, schema: opts.schema }),
    );
  }
  const filename = opts.url.replace(/^sqlite:/, '');
  return new LedgerStore(await SqliteDriver.open({ filename, maxBatch: opts.maxBatch }));
}

/**
 * Open the store a server serves from. PostgreSQL as {@link openStore}; SQLite, by default,
 * on a worker thread of its own (`thread: 'worker'`, see {@link WorkerStore}) so the write
 * queue's statement callbacks never wait behind HTTP work; `thread: 'main'` keeps it on the
 * calling thread.
 */
export async function openServingStore(opts: {
  url: string;
  maxBatch?: number;
  thread?: 'worker' | 'main';
  postgres?: Omit<PostgresOptions, 'url' | 'schema'>;
  /** The worker stopped unexpectedly (every later call fails). */
  onFailure?: (err: Error) => void;
}): Promise<Store> {
  if (/^postgres(ql)?:\/\//.test(opts.url) || opts.thread === 'main') return openStore(opts);
  const filename = opts.url.replace(/^sqlite:/, '');
  mkdirSync(dirname(filename), { recursive: true });
  return WorkerStore.open({ filename, maxBatch: opts.maxBatch }, { onFailure: opts.onFailure });
}
