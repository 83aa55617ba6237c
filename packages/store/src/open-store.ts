import { LedgerStore } from './ledger-store.js';
import { SqliteDriver } from './sqlite/sqlite-driver.js';

/**
 * Open the store a URL names: `postgres://…` selects PostgreSQL; `sqlite:PATH` or a bare
 * path selects the embedded SQLite file.
 *
 * @example
 * const store = await openStore({ url: 'sqlite:./data/credits.db' });
 * await store.migrate();
 */
export async function openStore(opts: { url: string; maxBatch?: number; schema?: string }): Promise<LedgerStore> {
  if (/^postgres(ql)?:\/\//.test(opts.url)) {
    const { PostgresDriver } = await import('./postgres/postgres-driver.js');
    return new LedgerStore(await PostgresDriver.open({ url: opts.url, schema: opts.schema }));
  }
  const filename = opts.url.replace(/^sqlite:/, '');
  return new LedgerStore(await SqliteDriver.open({ filename, maxBatch: opts.maxBatch }));
}
