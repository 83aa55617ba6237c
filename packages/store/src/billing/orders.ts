import { randomUUID } from 'node:crypto';
import { CreditsError, PLAN_CURRENCY, type Pack, type Plan } from '@credits/domain';
import type { Order } from './types.js';
import { BillingPart, ORDER_COLUMNS, toOrder } from './part.js';

/**
 * Orders at checkout: pending orders for a pack or a plan, the provider's session, reads, and
 * expiry. Payment events settle them (`payments.ts`); refunds undo paid ones (`adjustments.ts`).
 */
export class OrderStore extends BillingPart {
  /** A pending order for a pack; the same key and body give back the same order. */
  createOrder(input: {
    workspaceId: string;
    pack: Pack;
    provider: string;
    createdBy: string;
    now: number;
    idempotencyKey: string;
    requestHash: string;
  }): Promise<Order> {
    return this.insertOrder(input, {
      kind: 'pack',
      packId: input.pack.id,
      planId: null,
      wallet: input.pack.wallet,
      credits: input.pack.credits,
      priceCents: input.pack.priceCents,
      currency: input.pack.currency,
    });
  }

  /**
   * A pending order for a plan (an upgrade through checkout): the plan's display price in
   * minor units, in {@link PLAN_CURRENCY}. The same key and body give back the same order.
   */
  async createPlanOrder(input: {
    workspaceId: string;
    plan: Plan;
    provider: string;
    createdBy: string;
    now: number;
    idempotencyKey: string;
    requestHash: string;
  }): Promise<Order> {
    if (!Number.isSafeInteger(input.plan.priceCents) || input.plan.priceCents <= 0)
      throw new CreditsError('VALIDATION', `The ${input.plan.name} plan has no price to pay.`, {
        plan: input.plan.id,
      });
    if (input.plan.aiTokensPerCycle <= 0)
      throw new CreditsError('VALIDATION', `The ${input.plan.name} plan has no AI Tokens to buy.`, {
        plan: input.plan.id,
      });
    return this.insertOrder(input, {
      kind: 'plan',
      packId: null,
      planId: input.plan.id,
      wallet: 'ai_tokens',
      credits: input.plan.aiTokensPerCycle,
      priceCents: input.plan.priceCents,
      currency: PLAN_CURRENCY,
    });
  }

  private insertOrder(
    input: {
      workspaceId: string;
      provider: string;
      createdBy: string;
      now: number;
      idempotencyKey: string;
      requestHash: string;
    },
    what: Pick<
      Order,
      'kind' | 'packId' | 'planId' | 'wallet' | 'credits' | 'priceCents' | 'currency'
    >,
  ): Promise<Order> {
    return this.idempotent(
      {
        scope: input.workspaceId,
        key: input.idempotencyKey,
        operation: 'checkout',
        requestHash: input.requestHash,
        now: input.now,
      },
      async (tx) => {
        const order: Order = {
          id: `ord_${randomUUID().replaceAll('-', '')}`,
          workspaceId: input.workspaceId,
          ...what,
          provider: input.provider,
          providerSession: null,
          checkoutUrl: null,
          status: 'pending',
          lotId: null,
          refundedCredits: null,
          spentBeforeRefund: null,
          createdBy: input.createdBy,
          createdAt: input.now,
          updatedAt: input.now,
        };
        await tx.run(
          `INSERT INTO orders (id, workspace_id, kind, pack_id, plan_id, wallet, credits, price_cents, currency, provider, status,
             created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
          [
            order.id,
            order.workspaceId,
            order.kind,
            order.packId,
            order.planId,
            order.wallet,
            order.credits,
            order.priceCents,
            order.currency,
            order.provider,
            order.createdBy,
            input.now,
            input.now,
          ],
        );
        return order;
      },
    );
  }

  /** Remember the provider's session for an order (set once: the first one wins). */
  attachSession(input: {
    orderId: string;
    session: string;
    url: string;
    now: number;
  }): Promise<Order> {
    return this.driver.write(async (tx) => {
      await tx.run(
        `UPDATE orders SET provider_session = ?, checkout_url = ?, updated_at = ? WHERE id = ? AND provider_session IS NULL`,
        [input.session, input.url, input.now, input.orderId],
      );
      const row = await tx.get<Order>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE id = ?`, [
        input.orderId,
      ]);
      if (!row) throw new Error(`order ${input.orderId} vanished`);
      return toOrder(row);
    });
  }

  async order(input: { orderId: string; workspaceId?: string }): Promise<Order | null> {
    const row = await this.driver.read.get<Order>(
      `SELECT ${ORDER_COLUMNS} FROM orders WHERE id = ?${input.workspaceId ? ' AND workspace_id = ?' : ''}`,
      input.workspaceId ? [input.orderId, input.workspaceId] : [input.orderId],
    );
    return row ? toOrder(row) : null;
  }

  async orderBySession(input: { provider: string; session: string }): Promise<Order | null> {
    const row = await this.driver.read.get<Order>(
      `SELECT ${ORDER_COLUMNS} FROM orders WHERE provider = ? AND provider_session = ?`,
      [input.provider, input.session],
    );
    return row ? toOrder(row) : null;
  }

  async orders(input: { workspaceId: string; limit: number }): Promise<Order[]> {
    const rows = await this.driver.read.all<Order>(
      `SELECT ${ORDER_COLUMNS} FROM orders WHERE workspace_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`,
      [input.workspaceId, input.limit],
    );
    return rows.map(toOrder);
  }

  /** Pending orders older than `before` expire (no credits). */
  expireOrders(input: { before: number; now: number }): Promise<number> {
    return this.driver.write(async (tx) => {
      const r = await tx.run(
        `UPDATE orders SET status = 'expired', updated_at = ? WHERE status = 'pending' AND created_at < ?`,
        [input.now, input.before],
      );
      return r.changes;
    });
  }
}
