import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerStore } from '../src/ledger-store.js';
import { PostgresDriver } from '../src/postgres/postgres-driver.js';
import { T0, grant, key, outcome, priced, workspace, write } from './fixtures.js';

const PG_URL = process.env.TEST_DATABASE_URL ?? '';
const HOUR = 3_600_000;
const KINDS = ['video_credits', 'image_credits'] as const;

/**
 * PostgreSQL's reserve and charge statements in flight at once (`postgres/one-statement.ts`,
 * one per lane of wallets), from two stores on one schema standing for two server processes:
 * whatever runs at once, fails and runs again, every wallet ends exact and verify is clean.
 */
describe.skipIf(!PG_URL)('postgres: several one-statement groups in flight', () => {
  const schema = `store_lanes_${randomBytes(4).toString('hex')}`;
  let a: LedgerStore;
  let b: LedgerStore;
  const drivers: PostgresDriver[] = [];

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const driver = await PostgresDriver.open({
        url: PG_URL,
        schema,
        max: 8,
        statementsInFlight: 4,
      });
      drivers.push(driver);
    }
    a = new LedgerStore(drivers[0]!);
    await a.migrate();
    b = new LedgerStore(drivers[1]!);
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    const admin = await PostgresDriver.open({ url: PG_URL, max: 1 });
    await admin.read.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.close();
  });

  it('property: spends on many wallets from two processes, duplicates and refusals end as if run one at a time', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            ws: fc.nat({ max: 5 }),
            wallet: fc.constantFrom(...KINDS),
            credits: fc.integer({ min: 1, max: 60 }),
            hold: fc.boolean(),
            // Which process sends it: B's writes move wallets A remembers, and the other way.
            viaB: fc.boolean(),
            // Some requests reuse the key of an earlier one (a retry): a statement that holds
            // it fails and its operations run again alone.
            again: fc.option(fc.nat({ max: 80 }), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 120 },
        ),
        fc.integer({ min: 0, max: 400 }),
        async (requests, balance) => {
          const spaces = await Promise.all(Array.from({ length: 6 }, () => workspace(a)));
          // Two lots per wallet: one that expires in a month (spent first), one that never does.
          const soon = Math.ceil(balance / 3);
          for (const ws of spaces) {
            for (const wallet of KINDS) {
              if (soon > 0)
                await grant(a, ws.id, soon, { wallet, expiresAt: T0 + 30 * 86_400_000 });
              if (balance - soon > 0) await grant(a, ws.id, balance - soon, { wallet });
            }
          }
          const keys = requests.map(() => key());
          const firstOf = (i: number) => {
            const r = requests[i]!;
            return r.again !== undefined && r.again < i ? r.again : i;
          };
          const results = await Promise.all(
            requests.map((r, i) => {
              const like = requests[firstOf(i)]!;
              const input = {
                ...write(spaces[like.ws]!.id),
                idempotencyKey: keys[firstOf(i)]!,
                priced: priced(like.credits, { wallet: like.wallet }),
              };
              const store = r.viaB ? b : a;
              return like.hold
                ? outcome(store.reserve({ ...input, ttlMs: HOUR }))
                : outcome(store.charge(input));
            }),
          );
          // Every key took effect at most once, and its answers agree.
          const byKey = new Map<number, string>();
          results.forEach((r, i) => {
            if (!r.ok) return;
            const seen = byKey.get(firstOf(i));
            if (seen !== undefined) expect(JSON.stringify(r.value)).toBe(seen);
            else byKey.set(firstOf(i), JSON.stringify(r.value));
          });
          for (const [n, ws] of spaces.entries()) {
            const wallets = await a.wallets(ws.id);
            for (const kind of KINDS) {
              const w = wallets.find((x) => x.kind === kind)!;
              // Spend order held: the lot that never expires was drawn only once the other was empty.
              const lots = await a.lots({ workspaceId: ws.id, wallet: kind });
              const later = lots.find((l) => l.expiresAt === null);
              const sooner = lots.find((l) => l.expiresAt !== null);
              if (later && sooner && later.remaining < later.granted) {
                expect(sooner.remaining).toBe(0);
              }
              let taken = 0;
              let spent = 0;
              for (const [first, answer] of byKey) {
                if (requests[first]!.ws !== n) continue;
                const x = JSON.parse(answer) as { wallet: string; credits: number; jobId?: string };
                if (x.wallet !== kind) continue;
                taken += x.credits;
                if (x.jobId) spent += x.credits;
              }
              // Money is conserved: what each wallet lost is what its successful keys took.
              expect(balance - w.available).toBe(taken);
              expect(w.available + w.held).toBe(balance - spent);
              // A refusal was true when made, and balances only went down since.
              results.forEach((r, i) => {
                const like = requests[firstOf(i)]!;
                if (!r.ok && like.ws === n && like.wallet === kind) {
                  expect(r.reason).toBe('INSUFFICIENT_CREDITS');
                  expect(w.available).toBeLessThan(like.credits);
                }
              });
            }
          }
          expect((await a.verify()).violations).toEqual([]);
        },
      ),
      { numRuns: 25 },
    );
    // The statements did run side by side.
    expect(Math.max(...drivers.map((d) => d.peakStatementsInFlight))).toBeGreaterThan(1);
  }, 240_000);

  it('a failed statement makes its lane plan again: later charges on its wallets stay exact', async () => {
    const ws = await workspace(a);
    await grant(a, ws.id, 1_000);
    // A remembers the wallet; B moves it, so A's next statement on it fails its version check
    // while charges keep arriving behind it, planned on what it would have left.
    await a.charge({ ...write(ws.id), priced: priced(1) });
    await b.charge({ ...write(ws.id), priced: priced(5) });
    const answers = await Promise.all(
      Array.from({ length: 60 }, () => a.charge({ ...write(ws.id), priced: priced(3) })),
    );
    // One at a time, each charge leaves a balance of its own, 3 below another's.
    const balances = answers.map((x) => x.balance).sort((x, y) => y - x);
    expect(balances).toEqual(Array.from({ length: 60 }, (_, i) => 1_000 - 6 - 3 * (i + 1)));
    expect((await a.wallets(ws.id)).find((w) => w.kind === 'video_credits')?.available).toBe(
      1_000 - 6 - 180,
    );
    expect((await a.verify()).violations).toEqual([]);
  });
});
