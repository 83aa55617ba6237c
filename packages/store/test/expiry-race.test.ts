import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_PACKS, DEFAULT_PLANS, DEFAULT_WALLET_CATALOG } from '@credits/domain';
import { LedgerStore } from '../src/ledger-store.js';
import { SqliteDriver } from '../src/sqlite/sqlite-driver.js';
import { PostgresDriver } from '../src/postgres/postgres-driver.js';
import { WorkerStore } from '../src/worker/worker-store.js';
import type { Store } from '../src/types.js';
import { T0, grant, key, paymentOf, priced, workspace, write } from './fixtures.js';

/**
 * Issue 11: a hold released while another process (another connection to the same database)
 * expires or refunds the lot it drew from. Whoever commits first, no credits may land in a
 * dead lot: a part returned to a lot that is over expires at once (SPEC 13.7), and `verify`
 * (which flags dead lots holding credits and wallets whose balance differs from their live
 * lots) stays clean.
 */
const PG_URL = process.env.TEST_DATABASE_URL ?? '';
const HOUR = 3_600_000;
const RUNS = 20;

interface Pair {
  a: Store;
  b: Store;
  /** Lots that are over yet still hold credits (read through a's own connection). */
  stranded(): Promise<number>;
  close(): Promise<void>;
}

const STRANDED = `SELECT COUNT(*) AS n FROM lots l LEFT JOIN orders o ON o.lot_id = l.id
  WHERE l.remaining > 0 AND (l.expired_at IS NOT NULL OR o.status = 'refunded')`;

const PAIRS: { name: string; skip: string | null; open(): Promise<Pair> }[] = [
  {
    name: 'sqlite (two connections on one file)',
    skip: null,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'credits-race-'));
      const file = join(dir, 'credits.db');
      const da = await SqliteDriver.open({ filename: file });
      const a = new LedgerStore(da);
      await a.migrate();
      const b = new LedgerStore(await SqliteDriver.open({ filename: file }));
      return {
        a,
        b,
        stranded: async () => Number((await da.read.get<{ n: number }>(STRANDED))?.n),
        async close() {
          await Promise.all([a.close(), b.close()]);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'sqlite-worker (two worker threads on one file)',
    skip: null,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'credits-race-'));
      const file = join(dir, 'credits.db');
      const a = await WorkerStore.open({ filename: file });
      await a.migrate();
      const b = await WorkerStore.open({ filename: file });
      const reader = await SqliteDriver.open({ filename: file });
      return {
        a: a as unknown as Store,
        b: b as unknown as Store,
        stranded: async () => Number((await reader.read.get<{ n: number }>(STRANDED))?.n),
        async close() {
          await Promise.all([a.close(), b.close(), reader.close()]);
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'postgres (two pools on one schema)',
    skip: PG_URL ? null : 'TEST_DATABASE_URL is not set',
    async open() {
      const schema = `faults_${randomBytes(5).toString('hex')}`;
      const da = await PostgresDriver.open({ url: PG_URL, schema, max: 4 });
      const a = new LedgerStore(da);
      await a.migrate();
      const b = new LedgerStore(await PostgresDriver.open({ url: PG_URL, schema, max: 4 }));
      return {
        a,
        b,
        stranded: async () => Number((await da.read.get<{ n: number }>(STRANDED))?.n),
        async close() {
          await Promise.all([a.close(), b.close()]);
          const admin = await PostgresDriver.open({ url: PG_URL, max: 1 });
          await admin.read.run(`DROP SCHEMA ${schema} CASCADE`);
          await admin.close();
        },
      };
    },
  },
];

/** A paid order's purchase lot of `credits` in video credits (through the real payment path). */
async function paidOrder(store: Store, workspaceId: string, now: number) {
  const pack = DEFAULT_PACKS.find((p) => p.wallet === 'video_credits')!;
  const order = await store.billing.createOrder({
    workspaceId,
    pack,
    provider: 'sandbox',
    createdBy: 'test',
    now,
    idempotencyKey: key(),
    requestHash: 'h',
  });
  const session = `sess_${randomBytes(6).toString('hex')}`;
  await store.billing.attachSession({ orderId: order.id, session, url: 'http://x', now });
  const paid = await store.billing.applyPaymentEvent({
    provider: 'sandbox',
    eventId: `evt_${randomBytes(6).toString('hex')}`,
    type: 'paid',
    session,
    outcome: 'paid',
    payment: await paymentOf(store, order.id),
    now,
  });
  expect(paid.result).toBe('paid');
  return { orderId: order.id, credits: pack.credits };
}

for (const pair of PAIRS) {
  describe.skipIf(pair.skip !== null)(
    `settling reads the lot as the write finds it: ${pair.name}`,
    () => {
      let p: Pair;
      afterAll(async () => p?.close());

      it(`a hold released while the other connection expires its lot, ${RUNS} times: nothing stranded`, async () => {
        p = await openPair(pair);
        let returnedToLot = 0;
        let expiredOnReturn = 0;
        for (let i = 0; i < RUNS; i++) {
          const ws = await workspace(p.a);
          // The lot expires at T0 + 1 h; the release's own clock says a moment before, the
          // sweeper's a moment after: which one commits first is left to the race.
          await grant(p.a, ws.id, 100, { source: 'promo', expiresAt: T0 + HOUR });
          await grant(p.a, ws.id, 30);
          const hold = await p.a.reserve({ ...write(ws.id), priced: priced(60), ttlMs: 2 * HOUR });
          const release = () =>
            p.a.release({ ...write(ws.id, T0 + HOUR - 1), holdId: hold.holdId });
          const sweep = () => p.b.expireLots({ now: T0 + HOUR + 1, workspaceId: ws.id });
          // Alternate who is sent first so both orders happen.
          const r =
            i % 2
              ? (await Promise.all([release(), sweep()]))[0]
              : (await Promise.all([sweep(), release()]))[1];
          if (r.returned > 0) returnedToLot += 1;
          if (r.expired > 0) expiredOnReturn += 1;
          // Whatever the order: the promo lot is over and the wallet holds the 30 purchased.
          await p.b.expireLots({ now: T0 + HOUR + 1, workspaceId: ws.id });
          const video = (await p.a.wallets(ws.id)).find((w) => w.kind === 'video_credits')!;
          expect(video).toMatchObject({ available: 30, held: 0 });
        }
        expect(await p.stranded()).toBe(0);
        const report = await p.a.verify();
        expect(report.violations).toEqual([]);
        expect(returnedToLot + expiredOnReturn).toBe(RUNS);
      });

      it(`a hold released while the other connection refunds its order, ${RUNS} times: nothing stranded`, async () => {
        p ??= await openPair(pair);
        await p.a.billing.seed({
          plans: DEFAULT_PLANS,
          packs: DEFAULT_PACKS,
          catalog: Object.values(DEFAULT_WALLET_CATALOG),
          now: T0,
        });
        for (let i = 0; i < RUNS; i++) {
          const ws = await workspace(p.a);
          const { orderId, credits } = await paidOrder(p.a, ws.id, T0);
          const hold = await p.a.reserve({ ...write(ws.id), priced: priced(50), ttlMs: 2 * HOUR });
          // The refund's clock is later than the release's: only the lot's row can tell the
          // release that the lot is closed.
          const [r, refund] = await Promise.all([
            p.a.release({ ...write(ws.id, T0 + 10), holdId: hold.holdId }),
            p.b.billing.refundOrder({
              orderId,
              actor: 'test',
              reason: 'race',
              now: T0 + 20,
              idempotencyKey: key(),
              requestHash: 'h',
            }),
          ]);
          // Refund first: 50 were held and expire on return; release first: all is refunded.
          expect(r.returned + r.expired).toBe(50);
          expect(refund.refunded + r.expired).toBe(credits);
          const video = (await p.a.wallets(ws.id)).find((w) => w.kind === 'video_credits')!;
          expect(video).toMatchObject({ available: 0, held: 0 });
        }
        expect(await p.stranded()).toBe(0);
        expect((await p.a.verify()).violations).toEqual([]);
      });
    },
  );
}

async function openPair(pair: (typeof PAIRS)[number]): Promise<Pair> {
  return pair.open();
}
