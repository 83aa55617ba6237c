import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LedgerStore } from '../src/ledger-store.js';
import { PostgresDriver } from '../src/postgres/postgres-driver.js';
import { T0, grant, outcome, priced, workspace, write } from './fixtures.js';

const PG_URL = process.env.TEST_DATABASE_URL ?? '';

/**
 * PostgreSQL's one-statement path for reserve and charge (`postgres/one-statement.ts`): two
 * stores on one schema stand for two server processes, each remembering the wallets it wrote.
 */
describe.skipIf(!PG_URL)('postgres: reserves and charges as one statement', () => {
  const schema = `store_one_${randomBytes(4).toString('hex')}`;
  let a: LedgerStore;
  let b: LedgerStore;

  beforeAll(async () => {
    a = new LedgerStore(await PostgresDriver.open({ url: PG_URL, schema, max: 4 }));
    await a.migrate();
    b = new LedgerStore(await PostgresDriver.open({ url: PG_URL, schema, max: 4 }));
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    const admin = await PostgresDriver.open({ url: PG_URL, max: 1 });
    await admin.read.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.close();
  });

  it('many charges at once go as few statements, every one answered and counted', async () => {
    const ws = await workspace(a);
    await grant(a, ws.id, 10_000);
    const before = a.stats();
    const answers = await Promise.all(
      Array.from({ length: 200 }, () => a.charge({ ...write(ws.id), priced: priced(7) })),
    );
    const after = a.stats();
    expect(answers.map((x) => x.credits)).toEqual(Array.from({ length: 200 }, () => 7));
    expect(new Set(answers.map((x) => x.balance)).size).toBe(200);
    expect(after.writes - before.writes).toBeGreaterThanOrEqual(200);
    // Grouped: fewer commits than operations.
    expect(after.commits - before.commits).toBeLessThan(200);
    expect((await a.wallets(ws.id)).find((w) => w.kind === 'video_credits')?.available).toBe(
      10_000 - 200 * 7,
    );
    expect((await a.verify()).ok).toBe(true);
  });

  it('a wallet another process moved, even back to the same balance, is read again', async () => {
    const ws = await workspace(a);
    await grant(a, ws.id, 100);
    // A remembers the wallet: 90 left in the one lot.
    await a.charge({ ...write(ws.id), priced: priced(10) });
    // B grants 20 and spends 20: the balance is 90 again, but the lots are not what A knows.
    await grant(b, ws.id, 20);
    await b.charge({ ...write(ws.id), priced: priced(20) });
    const c = await a.charge({ ...write(ws.id), priced: priced(85) });
    expect(c.balance).toBe(5);
    const lots = await a.lots({ workspaceId: ws.id, wallet: 'video_credits' });
    expect(lots.reduce((t, l) => t + l.remaining, 0)).toBe(5);
    expect((await a.verify()).ok).toBe(true);
  });

  it('a key used twice in one group takes effect once and both get the same answer', async () => {
    const ws = await workspace(a);
    await grant(a, ws.id, 1_000);
    const same = write(ws.id);
    const [x, y] = await Promise.all([
      a.reserve({ ...same, priced: priced(40), ttlMs: 60_000 }),
      a.reserve({ ...same, priced: priced(40), ttlMs: 60_000 }),
    ]);
    expect(x).toEqual(y);
    expect((await a.wallets(ws.id)).find((w) => w.kind === 'video_credits')).toMatchObject({
      available: 960,
      held: 40,
    });
    expect((await a.verify()).ok).toBe(true);
  });

  it('a limit set by another process on a wallet remembered as without one is counted', async () => {
    const ws = await workspace(a);
    await grant(a, ws.id, 1_000);
    // A remembers the wallet, and that it has no spending limit.
    await a.charge({ ...write(ws.id), priced: priced(10) });
    await b.spendLimits.set({
      workspaceId: ws.id,
      wallet: 'video_credits',
      scope: 'workspace',
      subjectId: null,
      amount: 25,
      mode: 'hard',
      thresholds: [],
      now: T0,
      audit: { actor: 'user:usr_owner', action: 'test.change' },
    });
    // The next charge must count against the limit (10 + 10 of 25), the one after is refused.
    await a.charge({ ...write(ws.id), priced: priced(10) });
    expect(await outcome(a.charge({ ...write(ws.id), priced: priced(10) }))).toEqual({
      ok: false,
      reason: 'SPEND_LIMIT_REACHED',
    });
    const usage = await a.spendLimits.usageByActor({
      workspaceId: ws.id,
      wallet: 'video_credits',
      since: T0 - 86_400_000,
    });
    expect(usage).toEqual([{ actor: 'test', used: 20, held: 0 }]);
    expect((await a.verify()).ok).toBe(true);
  });
});
