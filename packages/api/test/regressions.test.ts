import { afterEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '@credits/store/testing';
import { HOUR, key, paymentOf } from './factory.js';
import { isoDay, makeBillingApi, type BillingHarness } from './billing-harness.js';

/** Bugs found in review, each pinned by a test that failed before its fix. */
for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`regressions on ${dialect.name}`, () => {
    let h: BillingHarness;
    afterEach(async () => {
      expect((await h.store.verify()).violations).toEqual([]);
      await h.cleanup();
    });

    it("a caller cannot take the key of next cycle's allowance grant and so block it", async () => {
      const start = Date.UTC(2026, 2, 10, 12);
      h = await makeBillingApi(dialect, { start });
      const ws = await h.createWorkspace({ plan: 'starter', anchorDay: 15 });
      await h.api.admin.ledger.grant({
        workspaceId: ws,
        wallet: 'image_credits',
        amount: 100,
        reason: 'x',
        idempotencyKey: key(),
      });
      // The caller guesses the system's key for the cycle starting on the 15th.
      const nextCycle = isoDay(Date.UTC(2026, 2, 15));
      await h.api.usage.reserve({
        workspaceId: ws,
        job: { kind: 'image', type: 'hero', count: 1 },
        idempotencyKey: `allowance:${ws}:${nextCycle}`,
      });
      h.clock.set(Date.UTC(2026, 2, 15, 1));
      const { wallets } = await h.api.wallets.list({ workspaceId: ws });
      const ai = wallets.find((w) => w.kind === 'ai_tokens')!;
      expect(ai.cycle?.planLimit).toBeGreaterThan(0);
      expect(ai.balance).toBe(ai.cycle?.planLimit);
      expect((await h.allowanceLots(ws)).map((l) => l.cycleKey)).toContain(nextCycle);
    });

    it('a plan change is one idempotent step: a replay answers the same, another plan under the key changes nothing', async () => {
      h = await makeBillingApi(dialect, { start: Date.UTC(2026, 2, 10, 12) });
      const ws = await h.createWorkspace({ plan: 'starter', anchorDay: 10 });
      // Tokens in use: 5,000 held by a running job, 20,000 spent.
      await h.api.usage.charge({
        workspaceId: ws,
        job: { kind: 'ai', tokens: 20_000 },
        idempotencyKey: key(),
      });
      await h.api.usage.reserve({
        workspaceId: ws,
        job: { kind: 'ai', tokens: 5_000 },
        idempotencyKey: key(),
      });
      const req = { workspaceId: ws, plan: 'pro', reason: 'Upgrade', idempotencyKey: key() };
      const first = await h.api.admin.workspaces.setPlan(req);
      const pro = (await h.store.billing.plan('pro'))!.aiTokensPerCycle;
      const ai = async () =>
        (await h.api.wallets.list({ workspaceId: ws })).wallets.find(
          (w) => w.kind === 'ai_tokens',
        )!;
      // New limit less what was used (spent and held): nothing handed out twice.
      expect((await ai()).balance).toBe(pro - 20_000 - 5_000);
      expect(await h.api.admin.workspaces.setPlan(req)).toEqual(first);
      await expect(
        h.api.admin.workspaces.setPlan({ ...req, plan: 'business' }),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
      expect((await h.store.getWorkspace(ws))?.plan).toBe('pro');
      expect((await ai()).balance).toBe(pro - 25_000);
    });

    it('the last owner cannot be demoted to member', async () => {
      h = await makeBillingApi(dialect, { start: Date.UTC(2026, 0, 5) });
      const { user, workspace } = await h.store.accounts.createAccount({
        email: `solo-${key()}@example.test`,
        name: 'Solo',
        passwordHash: 'x',
        workspace: { name: 'Solo', plan: 'free', features: [], billingAnchorDay: 5 },
        wallets: ['ai_tokens', 'image_credits', 'video_credits', 'audio_credits'],
        now: h.clock.now(),
      });
      await expect(
        h.api.workspaces.addMember({
          workspaceId: workspace.id,
          email: user.email,
          role: 'member',
        }),
      ).rejects.toMatchObject({ code: 'FORBIDDEN' });
      expect(await h.store.accounts.role({ workspaceId: workspace.id, userId: user.id })).toBe(
        'owner',
      );
    });

    it('a replayed checkout reports the order as it is now, not as it was first answered', async () => {
      h = await makeBillingApi(dialect, { start: Date.UTC(2026, 0, 5) });
      const ws = await h.createWorkspace({ plan: 'pro' });
      const req = { workspaceId: ws, packId: 'image-100', idempotencyKey: key() };
      const first = await h.api.billing.checkout(req);
      expect(first.status).toBe('pending');
      const order = await h.store.billing.order({ orderId: first.orderId });
      await h.store.billing.applyPaymentEvent({
        provider: order!.provider,
        eventId: key('evt'),
        type: 'paid',
        session: order!.providerSession!,
        outcome: 'paid',
        payment: await paymentOf(h.store, order!.id),
        now: h.clock.now() + HOUR,
      });
      const again = await h.api.billing.checkout(req);
      expect(again).toMatchObject({ orderId: first.orderId, status: 'paid' });
    });
  });
}
