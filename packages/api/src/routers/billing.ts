import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { CreditsError } from '@credits/domain';
import type { Order, Store } from '@credits/store';
import { workspaceProcedure, type PaymentGateway } from '../trpc.js';
import { idSchema, idempotencyKeySchema, walletSchema, workspaceIdSchema } from '../schemas.js';
import { requestHash } from '../request-hash.js';
import { loadWorkspace } from '../workspace-cache.js';
import { whenProviderFails } from '../errors.js';

/**
 * Where the provider sends the browser back: the caller's page (a studio, say) or Billing,
 * always with `order=<id>` so that page can say what happened to the order.
 */
export function withOrder(returnPath: string, orderId: string): string {
  const [path, query = ''] = returnPath.split('?', 2) as [string, string?];
  const params = new URLSearchParams(query);
  params.set('order', orderId);
  return `${path}?${params.toString()}`;
}

/**
 * The provider's checkout session for a pending order (pack or plan). The replayed answer of
 * a checkout is the order as first created, so its session is read as it is now; a replay of
 * a request whose session was never made (or lost) makes one now; if two race, the first
 * stored session wins and both answer with it.
 */
export async function openCheckout(input: {
  store: Store;
  payments: PaymentGateway;
  order: Order;
  returnPath: string;
  now: number;
  itemName?: string;
}): Promise<{ current: Order; checkoutUrl: string | null }> {
  const { store, order } = input;
  const current = (await store.billing.order({ orderId: order.id })) ?? order;
  let checkoutUrl = current.checkoutUrl;
  if (checkoutUrl === null) {
    const made = await input.payments
      .createSession({
        order,
        returnUrl: withOrder(input.returnPath, order.id),
        ...(input.itemName !== undefined && { itemName: input.itemName }),
      })
      // The order stays pending with no session; the retry with the same key makes it then.
      .catch(
        whenProviderFails(
          'The payment provider did not answer; nothing was charged and your order is kept. Retrying with the same idempotency key is safe.',
          { orderId: order.id, provider: input.payments.provider },
        ),
      );
    checkoutUrl = (
      await store.billing.attachSession({
        orderId: order.id,
        session: made.session,
        url: made.url,
        now: input.now,
      })
    ).checkoutUrl;
  }
  return { current, checkoutUrl };
}

/** A return path on this site (the provider sends the browser back there). */
export const returnPathSchema = z
  .string()
  .regex(/^\/[A-Za-z0-9/_\-?=&.%]*$/)
  .max(200);

export const billingRouter = {
  /** The packs on sale, for one wallet or all. */
  packs: workspaceProcedure('read')
    .input(z.object({ workspaceId: workspaceIdSchema, wallet: walletSchema.optional() }).strict())
    .query(({ ctx, input }) => ctx.store.billing.packs({ wallet: input.wallet })),

  /**
   * Owners buy: a pending order and a provider checkout session. The same key and body
   * return the same order and session; paying happens on the provider's page, and only its
   * signed webhook adds credits (to the pack's wallet, never another, never the plan).
   */
  checkout: workspaceProcedure('owner')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          packId: idSchema,
          idempotencyKey: idempotencyKeySchema,
          returnPath: returnPathSchema.optional(),
        })
        .strict(),
    )
    .mutation(async ({ ctx, input }) => {
      if (!ctx.payments)
        throw new CreditsError(
          'FEATURE_UNAVAILABLE',
          'Buying credits is not available on this server (no payment provider is configured).',
        );
      // An admin passes the access check for any id: a missing workspace is NOT_FOUND, not a foreign-key crash.
      await loadWorkspace(ctx.store, input.workspaceId);
      const pack = (await ctx.store.billing.packs({ includeInactive: false })).find(
        (p) => p.id === input.packId,
      );
      if (!pack)
        throw new CreditsError('NOT_FOUND', 'No such pack on sale.', { packId: input.packId });
      const now = ctx.now();
      const order = await ctx.store.billing.createOrder({
        workspaceId: input.workspaceId,
        pack,
        provider: ctx.payments.provider,
        createdBy: ctx.caller.id,
        now,
        idempotencyKey: input.idempotencyKey,
        requestHash: requestHash('billing.checkout', input),
      });
      const { current, checkoutUrl } = await openCheckout({
        store: ctx.store,
        payments: ctx.payments,
        order,
        returnPath: input.returnPath ?? '/billing',
        now,
      });
      return {
        orderId: order.id,
        status: current.status,
        checkoutUrl,
        wallet: order.wallet,
        credits: order.credits,
      };
    }),

  /** Orders, newest first. */
  orders: workspaceProcedure('read')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          limit: z.number().int().min(1).max(200).default(50),
        })
        .strict(),
    )
    .query(({ ctx, input }) => ctx.store.billing.orders(input)),

  order: workspaceProcedure('read')
    .input(z.object({ workspaceId: workspaceIdSchema, orderId: idSchema }).strict())
    .query(async ({ ctx, input }) => {
      const order = await ctx.store.billing.order(input);
      if (!order)
        throw new CreditsError('NOT_FOUND', 'No such order in this workspace.', {
          orderId: input.orderId,
        });
      return order;
    }),
} satisfies TRPCRouterRecord;
