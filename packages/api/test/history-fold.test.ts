import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LedgerEntry } from '@credits/store';
import { DIALECTS } from '@credits/store/testing';
import { key } from './factory.js';
import { makeBillingApi, type BillingHarness } from './billing-harness.js';

/**
 * Issue 15 Build 6: "one job reads as one line with its final amount and its hold history
 * folded inside" — across pages too. usage.history never splits a job's hold, spend and
 * return entries over two pages, and no entry shows twice or goes missing.
 */
const icons = (count: number) => ({ kind: 'image' as const, type: 'icon' as const, count });

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`history pages by job on ${dialect.name}`, () => {
    let h: BillingHarness;
    let ws: string;
    beforeEach(async () => {
      h = await makeBillingApi(dialect, { start: Date.UTC(2028, 2, 6, 9) });
      ws = await h.createWorkspace({ plan: 'pro' });
    });
    afterEach(async () => {
      expect((await h.store.verify()).violations).toEqual([]);
      await h.cleanup();
    });

    async function pages(input: { limit: number; wallet?: 'image_credits' }) {
      const out: LedgerEntry[][] = [];
      let cursor: string | undefined;
      do {
        const page = await h.api.usage.history({
          workspaceId: ws,
          ...input,
          ...(cursor ? { cursor } : {}),
        });
        out.push(page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor && out.length < 50);
      return out;
    }

    it('a job whose hold is three pages older than its capture reads on one page, once; every entry once', async () => {
      await h.api.admin.ledger.grant({
        workspaceId: ws,
        wallet: 'image_credits',
        amount: 1_000,
        source: 'purchase',
        reason: 'Top-up',
        idempotencyKey: key('grant'),
      });
      const hold = await h.api.usage.reserve({
        workspaceId: ws,
        job: icons(5), // 10 held
        idempotencyKey: key('reserve'),
      });
      for (let i = 0; i < 7; i++)
        await h.api.usage.charge({ workspaceId: ws, job: icons(1), idempotencyKey: key('c') });
      await h.api.usage.capture({
        workspaceId: ws,
        holdId: hold.holdId,
        credits: 6, // 6 spent, 4 returned
        idempotencyKey: key('capture'),
      });

      const all = (await h.api.usage.history({ workspaceId: ws, limit: 200 })).items;
      const jobSteps = all.filter((e) => e.jobId === hold.holdId).map((e) => e.type);
      expect(jobSteps.sort()).toEqual(['hold', 'return', 'spend']);

      for (const filter of [
        { limit: 2 },
        { limit: 3 },
        { limit: 3, wallet: 'image_credits' as const },
      ]) {
        const walked = await pages(filter);
        // Every entry exactly once, newest first within a page.
        const ids = walked.flat().map((e) => e.id);
        expect(new Set(ids).size).toBe(ids.length);
        expect([...ids].sort((a, b) => a - b)).toEqual(
          all
            .filter((e) => !filter.wallet || e.wallet === filter.wallet)
            .map((e) => e.id)
            .sort((a, b) => a - b),
        );
        for (const p of walked)
          expect(p.map((e) => e.id)).toEqual([...p.map((e) => e.id)].sort((a, b) => b - a));
        // The job's three steps on one page, the first.
        const withJob = walked
          .map((p, i) => [i, p.filter((e) => e.jobId === hold.holdId).length] as const)
          .filter(([, n]) => n > 0);
        expect(withJob).toEqual([[0, 3]]);
      }
    });
  });
}
