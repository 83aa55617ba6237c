/**
 * The SQLite writer's fast paths: pipelined groups (operations sent together, checked once,
 * undone and run one at a time when anything in the group failed), appended rows, and what
 * the writer remembers of wallets between operations (forgotten when another connection
 * commits). Each test states what a caller relies on; `verify` runs after each.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LedgerStore } from '../src/ledger-store.js';
import { SqliteDriver } from '../src/sqlite/sqlite-driver.js';
import { T0, grant, key, outcome, priced, workspace, write } from './fixtures.js';

const HOUR = 3_600_000;

describe('SQLite writer', () => {
  let dir: string;
  let driver: SqliteDriver;
  let store: LedgerStore;
  const others: LedgerStore[] = [];

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'credits-writer-'));
    driver = await SqliteDriver.open({ filename: join(dir, 'credits.db') });
    store = new LedgerStore(driver);
    await store.migrate();
  });
  afterEach(async () => {
    expect((await store.verify()).violations).toEqual([]);
    for (const o of others.splice(0)) await o.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a write after its transaction was rolled back under it is refused, never applied alone (the guard)', async () => {
    // SQLite answers a full disk or an I/O error by rolling the whole transaction back under
    // the savepoints; statements still queued then ran in autocommit, one by one. Here the
    // rollback is forced: the UPDATE sent after it must fail, and nothing of it stay.
    const ws = await workspace(store);
    await grant(store, ws.id, 100);
    const before = await driver.read.all(`SELECT kind, available, held FROM wallets ORDER BY kind`);
    const late = driver.write(async (tx) => {
      await tx.run('ROLLBACK');
      await tx.run(`UPDATE wallets SET available = available + 1000 WHERE workspace_id = ?`, [
        ws.id,
      ]);
    });
    await expect(late).rejects.toThrow(/write outside its transaction|no such savepoint/);
    expect(
      await driver.read.all(`SELECT kind, available, held FROM wallets ORDER BY kind`),
    ).toEqual(before);
    // The writer goes on: the next operation commits normally.
    await grant(store, ws.id, 5);
  });

  it('a pipelined group with one failing statement: that operation fails, every other commits once', async () => {
    await driver.write((tx) => tx.run(`CREATE TABLE probe (n INTEGER PRIMARY KEY)`));
    const ops = Array.from({ length: 20 }, (_, n) =>
      driver.write(
        async (tx) => {
          // Operation 7 expects a row that is not there: its check fails after the group ran.
          if (n === 7) tx.write(`UPDATE probe SET n = n WHERE n = -1`, [], 1);
          tx.write(`INSERT INTO probe (n) VALUES (?)`, [n], 1);
          return n;
        },
        { pipelined: true },
      ),
    );
    const results = await Promise.allSettled(ops);
    expect(results.map((r) => r.status)).toEqual(
      results.map((_, n) => (n === 7 ? 'rejected' : 'fulfilled')),
    );
    const rows = await driver.read.all<{ n: number }>(`SELECT n FROM probe ORDER BY n`);
    expect(rows.map((r) => r.n)).toEqual(
      Array.from({ length: 20 }, (_, n) => n).filter((n) => n !== 7),
    );
  });

  it('a pipelined operation that throws sends nothing, and its outcome is the one-at-a-time outcome', async () => {
    await driver.write((tx) => tx.run(`CREATE TABLE probe (n INTEGER PRIMARY KEY)`));
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, (_, n) =>
        driver.write(
          async (tx) => {
            tx.write(`INSERT INTO probe (n) VALUES (?)`, [n], 1);
            if (n % 3 === 0) throw new Error(`refused ${n}`);
            return n;
          },
          { pipelined: true },
        ),
      ),
    );
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(4);
    const rows = await driver.read.all<{ n: number }>(`SELECT n FROM probe ORDER BY n`);
    expect(rows.map((r) => r.n)).toEqual([1, 2, 4, 5, 7, 8]);
  });

  it('a pipelined operation that writes while it runs is refused that write and runs on its own instead', async () => {
    // Tried grouped once (refused at its first write), then run on its own.
    let tries = 0;
    await driver.write(
      async (tx) => {
        tries += 1;
        await tx.run(`CREATE TABLE once (n INTEGER)`);
        await tx.run(`INSERT INTO once (n) VALUES (1)`);
      },
      { pipelined: true },
    );
    expect(tries).toBe(2);
    expect(await driver.read.all(`SELECT n FROM once`)).toEqual([{ n: 1 }]);
  });

  it('a spend sees what another connection committed since (the writer forgets what it remembered)', async () => {
    const ws = await workspace(store);
    await grant(store, ws.id, 100);
    // The writer now remembers the wallet after this spend.
    await store.charge({ ...write(ws.id), priced: priced(10) });
    // Another process (another connection to the same file) spends from the same wallet.
    const other = new LedgerStore(await SqliteDriver.open({ filename: join(dir, 'credits.db') }));
    others.push(other);
    await other.charge({ ...write(ws.id), priced: priced(30) });
    await other.grant({
      workspaceId: ws.id,
      wallet: 'video_credits',
      amount: 5,
      source: 'promo',
      description: 'elsewhere',
      actor: 'test',
      now: T0,
      idempotencyKey: key(),
      requestHash: 'h',
    });
    // 100 − 10 − 30 + 5 = 65: a spend of 65 fits exactly, one more credit does not.
    await expect(outcome(store.charge({ ...write(ws.id), priced: priced(66) }))).resolves.toEqual({
      ok: false,
      reason: 'INSUFFICIENT_CREDITS',
    });
    await expect(store.charge({ ...write(ws.id), priced: priced(65) })).resolves.toMatchObject({
      balance: 0,
    });
  });

  it('a capture or release between spends is seen by the next spend', async () => {
    const ws = await workspace(store);
    await grant(store, ws.id, 100);
    const hold = await store.reserve({ ...write(ws.id), priced: priced(40), ttlMs: HOUR });
    await store.charge({ ...write(ws.id), priced: priced(10) });
    await store.release({ ...write(ws.id), holdId: hold.holdId });
    // 100 − 10 after the release: all of it can go.
    await expect(store.charge({ ...write(ws.id), priced: priced(90) })).resolves.toMatchObject({
      balance: 0,
    });
  });

  it('the entries of 200 concurrent spends on one wallet read in order (each follows the one before)', async () => {
    const ws = await workspace(store);
    await grant(store, ws.id, 100_000);
    await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        store.charge({ ...write(ws.id), priced: priced(1 + (i % 50)) }),
      ),
    );
    const rows = await driver.read.all<{ balance: number; delta: number }>(
      `SELECT balance_after AS balance, available_delta AS delta FROM ledger_entries WHERE workspace_id = ? ORDER BY id`,
      [ws.id],
    );
    expect(rows).toHaveLength(201);
    let balance = 0;
    for (const r of rows) {
      balance += Number(r.delta);
      expect(Number(r.balance)).toBe(balance);
    }
    // `verify` (after each test) checks the same chain for every wallet.
  });

  it('a lot that expires between two spends sent together: both go through, the rest expires once', async () => {
    const ws = await workspace(store);
    await grant(store, ws.id, 100, { expiresAt: T0 + 1000, source: 'promo' });
    await grant(store, ws.id, 1000);
    const [a, b] = await Promise.all([
      store.charge({ ...write(ws.id, T0), priced: priced(30) }),
      store.charge({ ...write(ws.id, T0 + 2000), priced: priced(50) }),
    ]);
    // A spent 30 of the promo lot (soonest expiry first); B found its other 70 expired.
    expect(a.lots).toHaveLength(1);
    expect(b.balance).toBe(1000 - 50);
    const expired = await driver.read.all<{ amount: number }>(
      `SELECT amount FROM ledger_entries WHERE workspace_id = ? AND type = 'expire'`,
      [ws.id],
    );
    expect(expired.map((e) => Number(e.amount))).toEqual([-70]);
  });

  it('property: concurrent spends, duplicates and refusals end as if run one at a time', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            wallet: fc.constantFrom('video_credits' as const, 'image_credits' as const),
            credits: fc.integer({ min: 1, max: 40 }),
            hold: fc.boolean(),
            // Some requests reuse the key of an earlier one (a retry).
            again: fc.option(fc.nat({ max: 30 }), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 60 },
        ),
        fc.integer({ min: 0, max: 300 }),
        async (requests, balance) => {
          const ws = await workspace(store);
          if (balance > 0) {
            await grant(store, ws.id, balance);
            await grant(store, ws.id, balance, { wallet: 'image_credits' });
          }
          const keys = requests.map(() => key());
          const sent = requests.map((r, i) => {
            const k = r.again !== undefined && r.again < i ? keys[r.again]! : keys[i]!;
            const like = r.again !== undefined && r.again < i ? requests[r.again]! : r;
            const input = {
              ...write(ws.id),
              idempotencyKey: k,
              priced: priced(like.credits, { wallet: like.wallet }),
            };
            return like.hold
              ? outcome(store.reserve({ ...input, ttlMs: HOUR }))
              : outcome(store.charge(input));
          });
          const results = await Promise.all(sent);
          // Every key took effect at most once, and its answers agree.
          const byKey = new Map<string, string>();
          results.forEach((r, i) => {
            const k =
              requests[i]!.again !== undefined && requests[i]!.again! < i
                ? keys[requests[i]!.again!]!
                : keys[i]!;
            if (!r.ok) return;
            const seen = byKey.get(k);
            if (seen !== undefined) expect(JSON.stringify(r.value)).toBe(seen);
            else byKey.set(k, JSON.stringify(r.value));
          });
          // Money is conserved: what each wallet lost is what the distinct successful keys took.
          const wallets = await store.wallets(ws.id);
          for (const kind of ['video_credits', 'image_credits'] as const) {
            const w = wallets.find((x) => x.kind === kind)!;
            let taken = 0;
            let spent = 0;
            for (const answer of byKey.values()) {
              const a = JSON.parse(answer) as { wallet: string; credits: number; jobId?: string };
              if (a.wallet !== kind) continue;
              taken += a.credits;
              if (a.jobId) spent += a.credits;
            }
            expect(balance - w.available).toBe(taken);
            expect(w.available + w.held).toBe(balance - spent);
            expect(w.available).toBeGreaterThanOrEqual(0);
          }
          // Refusals were only for lack of credits (or a key reused with another body).
          for (const r of results) {
            if (!r.ok) expect(['INSUFFICIENT_CREDITS', 'IDEMPOTENCY_CONFLICT']).toContain(r.reason);
          }
          expect((await store.verify()).violations).toEqual([]);
        },
      ),
      { numRuns: 40 },
    );
  });
});
