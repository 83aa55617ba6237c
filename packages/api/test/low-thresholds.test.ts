import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '@credits/store/testing';
import { errorOf, key } from './factory.js';
import { makeBillingApi, type BillingHarness } from './billing-harness.js';

/**
 * Issue 15 Build 3: owners set each wallet's "low" threshold for their workspace. The wallet's
 * status and the low alert go by it; the catalog's value stays the default and other
 * workspaces keep it. Every test ends with `verify` clean.
 */
for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`low thresholds per wallet on ${dialect.name}`, () => {
    let h: BillingHarness;
    let ws: string;
    beforeEach(async () => {
      h = await makeBillingApi(dialect, { start: Date.UTC(2028, 2, 6, 9) });
      ws = await h.createWorkspace({ plan: 'pro' });
    });
    afterEach(async () => {
      const report = await h.store.verify();
      expect(report.violations).toEqual([]);
      await h.cleanup();
    });

    const grant = (amount: number, workspaceId = ws) =>
      h.api.admin.ledger.grant({
        workspaceId,
        wallet: 'image_credits',
        amount,
        source: 'purchase',
        reason: 'Top-up',
        idempotencyKey: key('grant'),
      });
    const image = (workspaceId = ws) => h.api.wallets.get({ workspaceId, wallet: 'image_credits' });
    const lows = async (workspaceId = ws) =>
      (await h.api.notifications.list({ workspaceId, limit: 200 }))
        .filter((n) => n.wallet === 'image_credits')
        .map((n) => `${n.kind}:${n.balance}:${n.resolved ? 'resolved' : 'active'}`);
    const set = (lowThreshold: number | null, workspaceId = ws) =>
      h.api.notifications.setLowThreshold({ workspaceId, wallet: 'image_credits', lowThreshold });

    it('raising the threshold above the balance makes the wallet low and raises one alert; lowering it resolves the alert', async () => {
      const other = await h.createWorkspace({ plan: 'pro' });
      await grant(100);
      await grant(100, other);
      expect(await image()).toMatchObject({ balance: 100, lowThreshold: 20, status: 'active' });

      expect(await set(150)).toEqual({
        wallet: 'image_credits',
        lowThreshold: 150,
        custom: true,
        alerted: true,
      });
      expect(await image()).toMatchObject({ balance: 100, lowThreshold: 150, status: 'low' });
      expect(await lows()).toEqual(['low:100:active']);
      const [alert] = await h.api.notifications.list({ workspaceId: ws });
      expect(alert!.message).toBe('Image Credits are low: 100 left.');

      // Still low at another raised threshold: no second alert.
      expect((await set(120)).alerted).toBe(false);
      expect(await lows()).toEqual(['low:100:active']);

      const listed = await h.api.notifications.lowThresholds({ workspaceId: ws });
      expect(listed.find((t) => t.wallet === 'image_credits')).toMatchObject({
        lowThreshold: 120,
        custom: true,
        catalogThreshold: 20,
      });
      // Coming Soon wallets are not listed.
      expect(listed.map((t) => t.wallet)).not.toContain('audio_credits');

      // Lowered below the balance: the alert resolves, the card is Active again.
      expect((await set(50)).alerted).toBe(false);
      expect(await image()).toMatchObject({ lowThreshold: 50, status: 'active' });
      expect(await lows()).toEqual(['low:100:resolved']);

      // Back to the catalog's.
      expect(await set(null)).toMatchObject({ lowThreshold: 20, custom: false });
      expect(
        (await h.api.notifications.lowThresholds({ workspaceId: ws })).find(
          (t) => t.wallet === 'image_credits',
        ),
      ).toMatchObject({ lowThreshold: 20, custom: false, updatedAt: null });

      // The other workspace never moved.
      expect(await image(other)).toMatchObject({ lowThreshold: 20, status: 'active' });
      expect(await lows(other)).toEqual([]);

      const audit = await h.store.accounts.auditLog({
        workspaceId: ws,
        action: 'wallet.low_threshold.set',
        limit: 10,
      });
      expect(audit.items.map((a) => [a.before, a.after])).toEqual([
        [
          { lowThreshold: 50, custom: true },
          { lowThreshold: 20, custom: false },
        ],
        [
          { lowThreshold: 120, custom: true },
          { lowThreshold: 50, custom: true },
        ],
        [
          { lowThreshold: 150, custom: true },
          { lowThreshold: 120, custom: true },
        ],
        [
          { lowThreshold: 20, custom: false },
          { lowThreshold: 150, custom: true },
        ],
      ]);
    });

    it('an empty wallet is empty at any threshold (no low alert); a negative or Coming Soon threshold is refused, nothing stored', async () => {
      expect((await set(500)).alerted).toBe(false);
      expect(await image()).toMatchObject({ balance: 0, status: 'empty' });
      expect(await lows()).toEqual([]);
      expect(await errorOf(set(-1))).toBeTruthy();
      expect(
        (
          await errorOf(
            h.api.notifications.setLowThreshold({
              workspaceId: ws,
              wallet: 'audio_credits',
              lowThreshold: 5,
            }),
          )
        )?.reason,
      ).toBe('VALIDATION');
      expect(
        (await h.api.notifications.lowThresholds({ workspaceId: ws })).find(
          (t) => t.wallet === 'image_credits',
        )?.lowThreshold,
      ).toBe(500);
    });
  });
}
