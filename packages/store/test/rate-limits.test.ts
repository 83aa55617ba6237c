import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { LedgerStore } from '../src/ledger-store.js';
import { SqliteDriver } from '../src/sqlite/sqlite-driver.js';
import { PostgresDriver } from '../src/postgres/postgres-driver.js';
import { WorkerStore } from '../src/worker/worker-store.js';
import type { Store } from '../src/types.js';

const PG_URL = process.env.TEST_DATABASE_URL ?? '';
const MINUTE = 60_000;
const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

/** Two stores on one database, as two server processes would open it. */
interface Pair {
  a: Store;
  b: Store;
  cleanup(): Promise<void>;
}
const PAIRS: { name: string; skip: string | null; make(): Promise<Pair> }[] = [
  {
    name: 'sqlite (a worker-thread store and a main-thread store on one file)',
    skip: null,
    async make() {
      const dir = mkdtempSync(join(tmpdir(), 'credits-limits-'));
      const file = join(dir, 'credits.db');
      const a = await WorkerStore.open({ filename: file });
      await a.migrate();
      const b = new LedgerStore(await SqliteDriver.open({ filename: file }));
      return {
        a,
        b,
        async cleanup() {
          await a.close();
          await b.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'postgres (two pools on one schema)',
    skip: PG_URL ? null : 'TEST_DATABASE_URL is not set',
    async make() {
      const schema = `t_${randomBytes(6).toString('hex')}`;
      const a = new LedgerStore(await PostgresDriver.open({ url: PG_URL, schema, max: 10 }));
      await a.migrate();
      const b = new LedgerStore(await PostgresDriver.open({ url: PG_URL, schema, max: 10 }));
      return {
        a,
        b,
        async cleanup() {
          await a.close();
          await b.close();
          const admin = await PostgresDriver.open({ url: PG_URL, max: 1 });
          await admin.read.run(`DROP SCHEMA ${schema} CASCADE`);
          await admin.close();
        },
      };
    },
  },
];

for (const pair of PAIRS) {
  describe.skipIf(pair.skip !== null)(`rate limits shared through the store: ${pair.name}`, () => {
    let p: Pair;
    beforeEach(async () => {
      p = await pair.make();
    });
    afterEach(async () => {
      await p.cleanup();
    });

    it('200 concurrent hits from two stores count 1…200, each once (atomic upsert-increment)', async () => {
      const hits = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          (i % 2 ? p.a : p.b).accounts.hitRateLimit({
            key: 'signIn:ip:203.0.113.9',
            windowMs: 15 * MINUTE,
            now: T0 + i,
          }),
        ),
      );
      expect(hits.map((h) => h.count).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 200 }, (_, i) => i + 1),
      );
      const seen = await p.b.accounts.rateLimitCount({ key: 'signIn:ip:203.0.113.9', now: T0 });
      expect(seen).toMatchObject({ count: 200, lastAt: expect.any(Number) });
    });

    it('a new window starts again at 1; ended windows are forgotten; clear forgets at once', async () => {
      const hit = (now: number, key = 'k') =>
        p.a.accounts.hitRateLimit({ key, windowMs: MINUTE, now });
      const start = Math.floor(T0 / MINUTE) * MINUTE;
      expect((await hit(start)).count).toBe(1);
      expect(await hit(start + 59_999)).toEqual({ count: 2, resetAt: start + MINUTE });
      expect((await hit(start + MINUTE)).count).toBe(1);
      expect((await p.b.accounts.rateLimitCount({ key: 'k', now: start + 2 * MINUTE })).count).toBe(
        0,
      );
      await hit(start + MINUTE, 'other');
      await p.b.accounts.clearRateLimit('other');
      expect((await p.a.accounts.rateLimitCount({ key: 'other', now: start + MINUTE })).count).toBe(
        0,
      );
    });
  });
}
