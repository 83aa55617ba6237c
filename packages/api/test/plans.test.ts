import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TRPCError } from '@trpc/server';
import { CreditsError, findPlan } from '@credits/domain';
import { DIALECTS } from '@credits/store/testing';
import { key, paymentOf } from './factory.js';
import { DAY, makeBillingApi, type BillingHarness } from './billing-harness.js';

/**
 * Plans for owners (SPEC 4 and 16, issue 15 build 5): an upgrade through checkout changes the
 * plan only when its verified `paid` event arrives, at once, with the allowance raised to the
 * new limit less what was used this cycle, once however often the event is replayed; a
 * downgrade is scheduled for the next reset (injected clock), can be cancelled, and applies at
 * the boundary with the lower allowance. Every test ends with `verify` clean.
 */

const STARTER = findPlan('starter')!.aiTokensPerCycle;
const PRO = findPlan('pro')!.aiTokensPerCycle;
const ai = (tokens: number) => ({ kind: 'ai' as const, tokens });

/** The CreditsError reason a call failed with (tRPC wraps it). */
async function reasonOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    const cause = e instanceof TRPCError ? e.cause : e;
    if (cause instanceof CreditsError) return cause.reason;
    throw e;
  }
  throw new Error('the call succeeded');
}

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`plans for owners on ${dialect.name}`, () => {
    let h: BillingHarness;
    beforeEach(async () => {
      h = await makeBillingApi(dialect, { start: Date.UTC(2028, 2, 5, 10) });
    });
    afterEach(async () => {
      expect((await h.store.verify()).violations).toEqual([]);
      await h.cleanup();
    });

    const aiWallet = (workspaceId: string) =>
      h.api.wallets.get({ workspaceId, wallet: 'ai_tokens' });
    const pay = async (orderId: string, eventId = key('evt')) =>
      h.store.billing.applyPaymentEvent({
        provider: 'sandbox',
        eventId,
        type: 'checkout.paid',
        session: `cs_${orderId}`,
        outcome: 'paid',
        payment: await paymentOf(h.store, orderId),
        now: h.clock.now(),
      });

    it('lists the plans for comparison with what the owner can do with each', async () => {
      const ws = await h.createWorkspace({ plan: 'starter', anchorDay: 1 });
      const list = await h.api.plans.list({ workspaceId: ws });
      expect(list.currentPlan).toBe('starter');
      expect(list.pendingDowngrade).toBeNull();
      expect(list.resetsAt).toBe(Date.UTC(2028, 3, 1));
      expect(
        list.plans.map((p) => [p.id, p.aiTokensPerCycle, p.priceCents, p.current, p.action]),
      ).toEqual([
        ['free', 20_000, 0, false, 'downgrade'],
        ['starter', STARTER, 1_900, true, 'current'],
        ['pro', PRO, 4_900, false, 'upgrade'],
        ['business', 5_000_000, 19_900, false, 'upgrade'],
      ]);
      expect(list.plans.find((p) => p.id === 'pro')).toMatchObject({
        currency: 'usd',
        features: ['video_edit'],
      });
    });

    it('an upgrade through checkout raises the AI Token limit at once when paid, once', async () => {
      const ws = await h.createWorkspace({ plan: 'starter', anchorDay: 1 });
      await h.api.usage.charge({ workspaceId: ws, job: ai(50_000), idempotencyKey: key('c') });
      h.clock.advance(3 * DAY);
      const checkoutInput = { workspaceId: ws, plan: 'pro', idempotencyKey: key('checkout') };
      const checkout = await h.api.plans.checkout(checkoutInput);
      // The same key and body give back the same order and session.
      expect(await h.api.plans.checkout(checkoutInput)).toEqual(checkout);
      expect(checkout).toMatchObject({
        status: 'pending',
        plan: 'pro',
        priceCents: 4_900,
        currency: 'usd',
        checkoutUrl: `https://pay.example.test/${checkout.orderId}`,
      });
      const order = await h.store.billing.order({ orderId: checkout.orderId });
      expect(order).toMatchObject({
        kind: 'plan',
        planId: 'pro',
        packId: null,
        wallet: 'ai_tokens',
        credits: PRO,
      });
      // Nothing changes before the provider says it was paid.
      expect((await h.api.plans.list({ workspaceId: ws })).currentPlan).toBe('starter');
      expect(await aiWallet(ws)).toMatchObject({
        balance: STARTER - 50_000,
        cycle: { planLimit: STARTER },
      });

      // A signed event whose amount is not the order's changes nothing.
      const wrong = await h.store.billing.applyPaymentEvent({
        provider: 'sandbox',
        eventId: key('evt'),
        type: 'checkout.paid',
        session: `cs_${checkout.orderId}`,
        outcome: 'paid',
        payment: { amount: 1, currency: 'usd', reference: checkout.orderId },
        now: h.clock.now(),
      });
      expect(wrong.result).toBe('mismatch');
      expect((await h.api.plans.list({ workspaceId: ws })).currentPlan).toBe('starter');

      const eventId = key('evt');
      expect((await pay(checkout.orderId, eventId)).result).toBe('paid');
      const after = await aiWallet(ws);
      expect(after).toMatchObject({
        balance: PRO - 50_000,
        cycle: { usedThisCycle: 50_000, planLimit: PRO, resetsAt: Date.UTC(2028, 3, 1) },
      });
      const list = await h.api.plans.list({ workspaceId: ws });
      expect(list.currentPlan).toBe('pro');
      expect((await h.api.admin.workspaces.get({ workspaceId: ws })).workspace).toMatchObject({
        plan: 'pro',
        features: ['video_edit'],
      });
      expect(await h.store.billing.order({ orderId: checkout.orderId })).toMatchObject({
        status: 'paid',
      });

      // The same event again, and another event for the same order: nothing twice.
      expect((await pay(checkout.orderId, eventId)).result).toBe('duplicate');
      expect((await pay(checkout.orderId)).result).toBe('already_settled');
      expect(await aiWallet(ws)).toEqual(after);
      const audits = await h.api.admin.audit.list({
        workspaceId: ws,
        action: 'workspace.plan.set',
      });
      expect(audits.items).toHaveLength(1);
      expect(audits.items[0]).toMatchObject({ actor: 'payment:sandbox' });

      // At the reset, Pro's allowance (not Starter's), once.
      h.clock.set(Date.UTC(2028, 3, 1));
      expect(await aiWallet(ws)).toMatchObject({
        balance: PRO,
        cycle: { usedThisCycle: 0, planLimit: PRO },
      });
    });

    it('refuses to sell the plan in force, a downgrade, or a plan with no price', async () => {
      const ws = await h.createWorkspace({ plan: 'starter', anchorDay: 1 });
      const checkout = (plan: string) =>
        h.api.plans.checkout({ workspaceId: ws, plan, idempotencyKey: key('checkout') });
      expect(await reasonOf(checkout('starter'))).toBe('VALIDATION');
      expect(await reasonOf(checkout('free'))).toBe('VALIDATION');
      expect(await reasonOf(checkout('nope'))).toBe('NOT_FOUND');
      // A plan with more AI Tokens and no price is not for sale.
      await h.api.admin.plans.save({
        id: 'gift',
        name: 'Gift',
        aiTokensPerCycle: 300_000,
        priceCents: 0,
        features: [],
        trialEligible: false,
      });
      expect(
        (await h.api.plans.list({ workspaceId: ws })).plans.find((p) => p.id === 'gift')?.action,
      ).toBe('unavailable');
      expect(await reasonOf(checkout('gift'))).toBe('VALIDATION');
      // Nor can the store be asked directly for a free plan order.
      await expect(
        h.store.billing.createPlanOrder({
          workspaceId: ws,
          plan: findPlan('free')!,
          provider: 'sandbox',
          createdBy: 'test',
          now: h.clock.now(),
          idempotencyKey: key('o'),
          requestHash: 'h',
        }),
      ).rejects.toMatchObject({ reason: 'VALIDATION' });
      expect(await h.store.billing.orders({ workspaceId: ws, limit: 10 })).toEqual([]);
      expect(
        await reasonOf(
          h.api.plans.scheduleDowngrade({
            workspaceId: ws,
            plan: 'pro',
            idempotencyKey: key('d'),
          }),
        ),
      ).toBe('VALIDATION');
    });

    it('a downgrade is scheduled for the next reset, can be cancelled, and applies there', async () => {
      const ws = await h.createWorkspace({ plan: 'pro', anchorDay: 20 });
      await h.api.usage.charge({ workspaceId: ws, job: ai(30_000), idempotencyKey: key('c') });
      const input = { workspaceId: ws, plan: 'starter', idempotencyKey: key('down') };
      const down = await h.api.plans.scheduleDowngrade(input);
      expect(down).toEqual({
        plan: 'pro',
        pendingPlan: 'starter',
        effectiveAt: Date.UTC(2028, 2, 20),
      });
      expect(await h.api.plans.scheduleDowngrade(input)).toEqual(down);
      expect((await h.api.plans.list({ workspaceId: ws })).pendingDowngrade).toEqual({
        plan: 'starter',
        name: 'Starter',
        effectiveAt: Date.UTC(2028, 2, 20),
      });
      // Nothing changes until then: no refund, the same limit and balance.
      expect(await aiWallet(ws)).toMatchObject({
        balance: PRO - 30_000,
        cycle: { planLimit: PRO },
      });

      // Cancelled: the reset keeps Pro.
      expect(await h.api.plans.cancelDowngrade({ workspaceId: ws })).toEqual({
        cancelled: 'starter',
      });
      expect(await h.api.plans.cancelDowngrade({ workspaceId: ws })).toEqual({ cancelled: null });
      expect((await h.api.plans.list({ workspaceId: ws })).pendingDowngrade).toBeNull();
      h.clock.set(Date.UTC(2028, 2, 20));
      expect(await aiWallet(ws)).toMatchObject({
        balance: PRO,
        cycle: { planLimit: PRO, resetsAt: Date.UTC(2028, 3, 20) },
      });

      // Scheduled again (a new key): at the next boundary the plan and allowance are Starter's.
      await h.api.plans.scheduleDowngrade({ ...input, idempotencyKey: key('down') });
      h.clock.set(Date.UTC(2028, 3, 20) - 1);
      expect((await aiWallet(ws)).cycle).toMatchObject({ planLimit: PRO });
      h.clock.set(Date.UTC(2028, 3, 20));
      expect(await aiWallet(ws)).toMatchObject({
        balance: STARTER,
        cycle: { usedThisCycle: 0, planLimit: STARTER, resetsAt: Date.UTC(2028, 4, 20) },
      });
      const list = await h.api.plans.list({ workspaceId: ws });
      expect(list.currentPlan).toBe('starter');
      expect(list.pendingDowngrade).toBeNull();
    });

    it('an upgrade cancels a scheduled downgrade', async () => {
      const ws = await h.createWorkspace({ plan: 'pro', anchorDay: 1 });
      await h.api.plans.scheduleDowngrade({
        workspaceId: ws,
        plan: 'free',
        idempotencyKey: key('down'),
      });
      const checkout = await h.api.plans.checkout({
        workspaceId: ws,
        plan: 'business',
        idempotencyKey: key('up'),
      });
      expect((await pay(checkout.orderId)).result).toBe('paid');
      const list = await h.api.plans.list({ workspaceId: ws });
      expect(list.currentPlan).toBe('business');
      expect(list.pendingDowngrade).toBeNull();
    });

    it("an owner's idempotency keys are the workspace's own: two workspaces may use the same", async () => {
      const a = await h.createWorkspace({ plan: 'pro', anchorDay: 1 });
      const b = await h.createWorkspace({ plan: 'business', anchorDay: 1 });
      const same = key('shared');
      await h.api.plans.scheduleDowngrade({
        workspaceId: a,
        plan: 'starter',
        idempotencyKey: same,
      });
      await h.api.plans.scheduleDowngrade({ workspaceId: b, plan: 'pro', idempotencyKey: same });
      expect(await h.store.billing.pendingPlan(a)).toBe('starter');
      expect(await h.store.billing.pendingPlan(b)).toBe('pro');
    });
  });
}
