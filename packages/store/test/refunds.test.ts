import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../src/types.js';
import { DIALECTS, type TestStore } from './dialects.js';
import { T0, grant, key, outcome, priced, workspace } from './fixtures.js';

const refund = (
  store: Store,
  workspaceId: string,
  jobId: string,
  credits: number | undefined,
  idempotencyKey = key(),
  now = T0,
) =>
  store.refundJob({
    workspaceId,
    jobId,
    credits,
    reason: 'The video came out black',
    actor: 'key:svc',
    now,
    idempotencyKey,
    requestHash: `refund:${jobId}:${credits ?? 'all'}`,
  });

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`refunds of finished jobs on ${dialect.name}`, () => {
    let t: TestStore;
    beforeEach(async () => {
      t = await dialect.make();
    });
    afterEach(async () => {
      expect((await t.store.verify()).violations).toEqual([]);
      await t.cleanup();
    });

    it('100 concurrent partial refunds (10 % each of a job of 50): never more than 50 in total; each key replays its own answer', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 500);
      const job = await t.store.charge({
        workspaceId: ws.id,
        actor: 'user:u',
        now: T0,
        idempotencyKey: key(),
        requestHash: 'h',
        priced: priced(50),
      });
      const keys = Array.from({ length: 100 }, () => key());
      const first = await Promise.all(
        keys.map((k) => outcome(refund(t.store, ws.id, job.jobId, 5, k))),
      );
      const ok = first.filter((o) => o.ok);
      expect(ok).toHaveLength(10);
      expect(
        first.filter((o) => !o.ok).every((o) => !o.ok && o.reason === 'REFUND_EXCEEDS_COST'),
      ).toBe(true);
      const total = ok.reduce((s, o) => s + (o.ok ? o.value.refunded : 0), 0);
      expect(total).toBe(50);
      expect(
        (await t.store.wallets(ws.id)).find((w) => w.kind === 'video_credits')!.available,
      ).toBe(500);
      // Each key replays its own answer: the successes the same refund, the refusals a refusal.
      const again = await Promise.all(
        keys.map((k) => outcome(refund(t.store, ws.id, job.jobId, 5, k))),
      );
      for (let i = 0; i < keys.length; i++) {
        if (first[i]!.ok) expect(again[i]).toEqual(first[i]);
        else expect(again[i]!.ok).toBe(false);
      }
      const history = await t.store.history({ workspaceId: ws.id, types: ['refund'], limit: 50 });
      expect(history.items).toHaveLength(10);
      expect(history.items.every((e) => e.jobId === job.jobId && e.amount === 5)).toBe(true);
      expect(history.items[0]!.description).toBe('Refund: The video came out black');
    });

    it('credits go back to the lots that paid; an expired lot’s part expires at once, recorded; a held or unknown job is refused', async () => {
      const ws = await workspace(t.store);
      const soon = await grant(t.store, ws.id, 30, { expiresAt: T0 + 1000 });
      const later = await grant(t.store, ws.id, 100);
      const hold = await t.store.reserve({
        workspaceId: ws.id,
        actor: 'user:u',
        now: T0,
        idempotencyKey: key(),
        requestHash: 'h',
        priced: priced(40),
        ttlMs: 3_600_000,
      });
      expect(hold.lots).toEqual([
        { lotId: soon.lotId, amount: 30 },
        { lotId: later.lotId, amount: 10 },
      ]);
      expect(await outcome(refund(t.store, ws.id, hold.holdId, 5))).toEqual({
        ok: false,
        reason: 'JOB_NOT_REFUNDABLE',
      });
      await t.store.capture({
        workspaceId: ws.id,
        actor: 'user:u',
        now: T0,
        idempotencyKey: key(),
        requestHash: 'h',
        holdId: hold.holdId,
      });
      // After the first lot expired: 25 back, last drawn first: 10 to the live lot, 15 expire.
      const r = await refund(t.store, ws.id, hold.holdId, 25, key(), T0 + 2000);
      expect(r).toMatchObject({
        refunded: 25,
        returned: 10,
        expired: 15,
        cost: 40,
        totalRefunded: 25,
      });
      const lots = await t.store.lots({ workspaceId: ws.id, wallet: 'video_credits' });
      expect(lots.find((l) => l.id === later.lotId)!.remaining).toBe(100);
      const entries = await t.store.history({ workspaceId: ws.id, limit: 10 });
      expect(entries.items.slice(0, 2).map((e) => [e.type, e.amount, e.jobId])).toEqual([
        ['expire', -15, hold.holdId],
        ['refund', 25, hold.holdId],
      ]);
      // The rest (15), by default: all to the expired lot, so all expire.
      expect(await refund(t.store, ws.id, hold.holdId, undefined, key(), T0 + 3000)).toMatchObject({
        refunded: 15,
        expired: 15,
        totalRefunded: 40,
      });
      expect(await outcome(refund(t.store, ws.id, hold.holdId, 1))).toEqual({
        ok: false,
        reason: 'REFUND_EXCEEDS_COST',
      });
      expect(await outcome(refund(t.store, ws.id, 'job_missing', 1))).toEqual({
        ok: false,
        reason: 'NOT_FOUND',
      });
    });
  });
}
