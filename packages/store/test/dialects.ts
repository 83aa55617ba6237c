import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LedgerStore } from '../src/ledger-store.js';
import { SqliteDriver } from '../src/sqlite/sqlite-driver.js';
import { PostgresDriver } from '../src/postgres/postgres-driver.js';
import type { Store } from '../src/types.js';

export interface TestStore {
  store: Store;
  cleanup(): Promise<void>;
}

export interface DialectFixture {
  name: 'sqlite' | 'postgres';
  /** Why the dialect is skipped, or null when it runs. */
  skip: string | null;
  make(): Promise<TestStore>;
}

const PG_URL = process.env.TEST_DATABASE_URL ?? '';

/**
 * Every store test loops over these. SQLite always runs (a fresh file per store); PostgreSQL
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
