import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { CreditsError } from '@credits/domain';
import type { Store } from '@credits/store';
import { workspaceProcedure } from '../trpc.js';
import { idSchema, workspaceIdSchema } from '../schemas.js';
import { planItemName } from './plans.js';

/** What a receipt says: a paid (or later refunded) order, as the owner and their books read it. */
export interface Receipt {
  /** The receipt's number: the order id. */
  orderId: string;
  workspaceId: string;
  workspaceName: string;
  /** "500 Image Credits"; for a plan order, "Pro plan (1,000,000 AI Tokens per cycle)". */
  pack: string;
  /** What was bought: a credit pack, or a plan (an upgrade). */
  kind: 'pack' | 'plan';
  packId: string | null;
  planId: string | null;
  wallet: string;
  credits: number;
  priceCents: number;
  currency: string;
  provider: string;
  /** The payment provider's reference (its checkout session id). */
  providerReference: string | null;
  /** When the order was paid (its last change for a refunded one). */
  paidAt: number;
  status: 'paid' | 'refunded';
  refundedCredits: number | null;
}

/**
 * The receipt of a paid order of this workspace; NOT_FOUND for an unknown order, another
 * workspace's, or one never paid (pending, declined, expired orders have no receipt).
 */
export async function buildReceipt(store: Store, workspaceId: string, orderId: string) {
  const order = await store.billing.order({ workspaceId, orderId });
  if (!order || (order.status !== 'paid' && order.status !== 'refunded'))
    throw new CreditsError('NOT_FOUND', 'No paid order with this id in this workspace.', {
      orderId,
    });
  const workspace = await store.getWorkspace(workspaceId);
  const label = store.catalogSnapshot().find((c) => c.kind === order.wallet)?.label ?? order.wallet;
  const amount = `${order.credits.toLocaleString('en-US')} ${label}`;
  const plan = order.planId ? await store.billing.plan(order.planId) : null;
  const receipt: Receipt = {
    orderId: order.id,
    workspaceId,
    workspaceName: workspace?.name ?? workspaceId,
    pack:
      order.kind === 'plan'
        ? planItemName({
            name: plan?.name ?? String(order.planId),
            aiTokensPerCycle: order.credits,
          })
        : amount,
    kind: order.kind,
    packId: order.packId,
    planId: order.planId,
    wallet: order.wallet,
    credits: order.credits,
    priceCents: order.priceCents,
    currency: order.currency,
    provider: order.provider,
    providerReference: order.providerSession,
    paidAt: order.updatedAt,
    status: order.status,
    refundedCredits: order.refundedCredits,
  };
  return receipt;
}

export const receiptsRouter = {
  /** A paid order's receipt (the page and the PDF at `GET /receipts/<orderId>.pdf` say the same). */
  get: workspaceProcedure('read')
    .input(z.object({ workspaceId: workspaceIdSchema, orderId: idSchema }).strict())
    .query(({ ctx, input }) => buildReceipt(ctx.store, input.workspaceId, input.orderId)),
} satisfies TRPCRouterRecord;
