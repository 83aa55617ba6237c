import { afterEach, describe, expect, it } from 'vitest';
import { TRPCError } from '@trpc/server';
import type { CreditsError } from '@credits/domain';
import { DIALECTS } from '@credits/store/testing';
import { createCaller, type PaymentGateway } from '../src/index.js';
import { key } from './factory.js';
import { makeBillingApi, type BillingHarness } from './billing-harness.js';

/**
 * The payment provider fails sometimes (a timeout, a 5xx, a reset connection). Buying a pack
 * then costs that one request a clear, retryable error, never a 500: the order is kept, no
 * session is stored, and the retry with the same key makes the session and answers with the
 * same order.
 */
function flakyGateway(failures: number): PaymentGateway & { calls: number } {
  const g = {
    provider: 'sandbox',
    calls: 0,
    async createSession({ order }: { order: { id: string } }) {
      g.calls += 1;
      if (g.calls <= failures) {
        const e = new Error('connect ETIMEDOUT api.payments.example:443');
        (e as Error & { code?: string }).code = 'ETIMEDOUT';
        throw e;
      }
      return { session: `cs_${order.id}`, url: `https://pay.example.test/${order.id}` };
    },
  };
  return g as PaymentGateway & { calls: number };
}

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`payment provider failures on ${dialect.name}`, () => {
    let h: BillingHarness;
    afterEach(async () => {
      expect((await h.store.verify()).violations).toEqual([]);
      await h.cleanup();
    });

    it('a provider timeout at checkout: PAYMENT_PROVIDER_UNAVAILABLE (503), the order kept; the retry with the same key completes it', async () => {
      h = await makeBillingApi(dialect, { start: Date.UTC(2026, 0, 5) });
      const ws = await h.createWorkspace({ plan: 'pro' });
      const gateway = flakyGateway(2);
      const api = createCaller({ ...h.ctx, payments: gateway });
      const req = { workspaceId: ws, packId: 'image-100', idempotencyKey: key() };

      for (let attempt = 1; attempt <= 2; attempt++) {
        const err = await api.billing.checkout(req).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(TRPCError);
        expect((err as TRPCError).code).toBe('SERVICE_UNAVAILABLE');
        const cause = (err as TRPCError).cause as CreditsError;
        expect(cause.reason).toBe('PAYMENT_PROVIDER_UNAVAILABLE');
        expect(cause.message).toMatch(/same idempotency key is safe/);
        expect(cause.details).toMatchObject({ retryable: true });
      }
      // One order, pending, without a session; no credits anywhere.
      const orders = await h.store.billing.orders({ workspaceId: ws, limit: 10 });
      expect(orders).toHaveLength(1);
      expect(orders[0]).toMatchObject({ status: 'pending', checkoutUrl: null });

      const ok = await api.billing.checkout(req);
      expect(ok).toMatchObject({
        orderId: orders[0]!.id,
        status: 'pending',
        checkoutUrl: `https://pay.example.test/${orders[0]!.id}`,
      });
      // Replays answer the same session without asking the provider again.
      expect(await api.billing.checkout(req)).toEqual(ok);
      expect(gateway.calls).toBe(3);
      expect(await h.store.billing.orders({ workspaceId: ws, limit: 10 })).toHaveLength(1);
    });

    it('a provider failure when saving a card: PAYMENT_PROVIDER_UNAVAILABLE (503), nothing saved', async () => {
      h = await makeBillingApi(dialect, { start: Date.UTC(2026, 0, 5) });
      const ws = await h.createWorkspace({ plan: 'pro' });
      const api = createCaller({
        ...h.ctx,
        payments: {
          ...flakyGateway(0),
          createSetupSession: () => Promise.reject(new Error('socket hang up')),
        },
      });
      const err = await api.autoTopUp.setupPaymentMethod({ workspaceId: ws }).then(
        () => null,
        (e: unknown) => e,
      );
      expect((err as TRPCError).code).toBe('SERVICE_UNAVAILABLE');
      expect(((err as TRPCError).cause as CreditsError).reason).toBe(
        'PAYMENT_PROVIDER_UNAVAILABLE',
      );
      expect(
        await h.store.autoTopUp.paymentMethod({ workspaceId: ws, provider: 'sandbox' }),
      ).toBeNull();
    });
  });
}
