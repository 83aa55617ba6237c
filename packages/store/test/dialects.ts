import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LedgerStore } from '../src/ledger-store.js';
import { SqliteDriver } from '../src/sqlite/sqlite-driver.js';
import { PostgresDriver } from '../src/postgres/postgres-driver.js';
import { WorkerStore } from '../src/worker/worker-store.js';
import type { Store } from '../src/types.js';

export interface TestStore {
  store: Store;
  /** The SQLite file, for tests that read raw rows beside the store. */
  sqliteFile?: string;
  cleanup(): Promise<void>;
}

export interface DialectFixture {
  name: 'sqlite' | 'sqlite-worker' | 'postgres';
  /** Why the dialect is skipped, or null when it runs. */
  skip: string | null;
  make(): Promise<TestStore>;
}

const PG_URL = process.env.TEST_DATABASE_URL ?? '';

/**
 * Every store test loops over these. SQLite always runs (a fresh file per store), in the
 * calling thread and on a worker thread as the server runs it; PostgreSQL
 * runs when TEST_DATABASE_URL is set, each store in its own schema so runs never collide.
 */
export const DIALECTS: DialectFixture[] = [
  {
    name: 'sqlite',
    skip: null,
    async make() {
      const dir = mkdtempSync(join(tmpdir(), 'credits-store-'));
      const store = new LedgerStore(await SqliteDriver.open({ filename: join(dir, 'credits.db') }));
      await store.migrate();
      return {
        store,
        async cleanup() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    // What the server runs by default: the same SQLite store on a worker thread of its own,
    // every call crossing to it and back as a message.
    name: 'sqlite-worker',
    skip: null,
    async make() {
      const dir = mkdtempSync(join(tmpdir(), 'credits-store-'));
      const store = await WorkerStore.open({ filename: join(dir, 'credits.db') });
      await store.migrate();
      return {
        store,
        sqliteFile: join(dir, 'credits.db'),
        async cleanup() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'postgres',
    skip: PG_URL ? null : 'TEST_DATABASE_URL is not set',
    async make() {
      const schema = `t_${randomBytes(6).toString('hex')}`;
      const driver = await PostgresDriver.open({ url: PG_URL, schema, max: 20 });
      const store = new LedgerStore(driver);
      await store.migrate();
      return {
        store,
        async cleanup() {
          await store.close();
          const admin = await PostgresDriver.open({ url: PG_URL, max: 1 });
          await admin.read.run(`DROP SCHEMA ${schema} CASCADE`);
          await admin.close();
        },
      };
    },
  },
];
