import { randomUUID } from 'node:crypto';
import {
  CreditsError,
  PLAN_CURRENCY,
  cycleAt,
  type Pack,
  type Plan,
  type WalletKind,
} from '@credits/domain';
import { writeAudit } from '../audit-log.js';
import { spendFromLots } from '../money/spend.js';
import type { TxExecutor } from '../executor.js';
import { changePlanIn } from './cycles.js';
import type { Order, PaymentEventResult, PaymentFacts } from './types.js';
import { BillingPart, ORDER_COLUMNS, toOrder } from './part.js';

/** Orders and payments, refunds of a paid order, and manual adjustments. */
export class OrderStore extends BillingPart {
  // ---------------------------------------------------------------- orders

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

  /**
   * Apply a verified payment event once: the event id is claimed first (a UNIQUE key, kept
   * for good), then a pending order becomes paid with a purchase lot in the pack's wallet
   * (never another), or declined/expired with no credits. Returns what happened.
   */
  applyPaymentEvent(input: {
    provider: string;
    eventId: string;
    type: string;
    session: string;
    outcome: 'paid' | 'declined' | 'expired';
    payment: PaymentFacts | null;
    now: number;
  }): Promise<{ result: PaymentEventResult; order: Order | null; mismatch?: string[] }> {
    return this.driver.write(async (tx) => {
      const claimed = await tx.run(
        `INSERT INTO webhook_events (provider, event_id, type, received_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        [input.provider, input.eventId, input.type, input.now],
      );
      if (claimed.changes !== 1) return { result: 'duplicate' as const, order: null };
      const row = await tx.get<Order>(
        `SELECT ${ORDER_COLUMNS} FROM orders WHERE provider = ? AND provider_session = ? ${this.driver.lockRows}`,
        [input.provider, input.session],
      );
      if (!row) return { result: 'unknown_order' as const, order: null };
      const order = toOrder(row);
      await tx.run(`UPDATE webhook_events SET order_id = ? WHERE provider = ? AND event_id = ?`, [
        order.id,
        input.provider,
        input.eventId,
      ]);
      if (order.status !== 'pending') return { result: 'already_settled' as const, order };
      if (input.outcome === 'paid') {
        const wrong = paymentMismatch(order, input.payment);
        if (wrong.length > 0) {
          // Signed, but not this order's payment: recorded for the admins, the order stays pending.
          await writeAudit(
            tx,
            {
              actor: `payment:${input.provider}`,
              action: 'payment.mismatch',
              target: `order:${order.id}`,
              workspaceId: order.workspaceId,
              before: {
                amount: order.priceCents,
                currency: order.currency,
                reference: order.id,
              },
              after: { ...input.payment, eventId: input.eventId, type: input.type },
              reason: `payment event ${input.eventId} does not match the order: ${wrong.join(', ')}`,
            },
            input.now,
          );
          return { result: 'mismatch' as const, order, mismatch: wrong };
        }
      }
      if (input.outcome !== 'paid') {
        await tx.run(
          `UPDATE orders SET status = ?, updated_at = ? WHERE id = ? AND status = 'pending'`,
          [input.outcome, input.now, order.id],
        );
        return {
          result: input.outcome,
          order: { ...order, status: input.outcome, updatedAt: input.now },
        };
      }
      if (order.kind === 'plan') return this.paidPlanOrder(tx, order, input);
      const w = await this.ledger(tx).openWallet(order.workspaceId, order.wallet);
      const lotId = `lot_${randomUUID().replaceAll('-', '')}`;
      await tx.run(
        `INSERT INTO lots (id, workspace_id, wallet, source, granted, remaining, order_id, created_at)
         VALUES (?, ?, ?, 'purchase', ?, ?, ?, ?)`,
        [lotId, order.workspaceId, order.wallet, order.credits, order.credits, order.id, input.now],
      );
      await w.entry({
        type: 'purchase',
        amount: order.credits,
        availableDelta: order.credits,
        heldDelta: 0,
        orderId: order.id,
        actor: `payment:${input.provider}`,
        description: `Bought ${order.credits.toLocaleString('en-US')} credits (${order.packId ?? order.id})`,
        lots: [{ lotId, amount: order.credits }],
        now: input.now,
      });
      await w.save(input.now);
      const upd = await tx.run(
        `UPDATE orders SET status = 'paid', lot_id = ?, updated_at = ? WHERE id = ? AND status = 'pending'`,
        [lotId, input.now, order.id],
      );
      if (upd.changes !== 1) throw new Error(`ledger bug: order ${order.id} changed while locked`);
      return {
        result: 'paid' as const,
        order: { ...order, status: 'paid' as const, lotId, updatedAt: input.now },
      };
    });
  }

  /**
   * A paid plan order: the plan changes at once by the one plan-change path ({@link changePlanIn},
   * as an upgrade: the allowance rises to the new limit less what was used this cycle), in the
   * transaction that claimed the event, so a replayed event changes nothing twice. The plan as
   * stored now; the cycle from the workspace's anchor day (the route has made its allowance
   * current before).
   */
  private async paidPlanOrder(
    tx: TxExecutor,
    order: Order,
    input: { provider: string; now: number },
  ): Promise<{ result: 'paid'; order: Order }> {
    const [plan, ws] = await Promise.all([
      tx.get<{
        id: string;
        name: string;
        aiTokensPerCycle: number;
        priceCents: number;
        features: string;
        trialEligible: number;
      }>(
        `SELECT id, name, ai_tokens_per_cycle AS "aiTokensPerCycle", price_cents AS "priceCents", features,
           trial_eligible AS "trialEligible" FROM plans WHERE id = ?`,
        [order.planId],
      ),
      tx.get<{ anchor: number }>(
        `SELECT billing_anchor_day AS "anchor" FROM workspaces WHERE id = ?`,
        [order.workspaceId],
      ),
    ]);
    if (!plan || !ws)
      throw new Error(`ledger bug: plan order ${order.id} has no plan or workspace`);
    await changePlanIn(
      { tx, lockRows: this.driver.lockRows, ledger: this.ledger(tx) },
      {
        workspaceId: order.workspaceId,
        plan: {
          id: plan.id,
          name: plan.name,
          aiTokensPerCycle: Number(plan.aiTokensPerCycle),
          priceCents: Number(plan.priceCents),
          features: JSON.parse(plan.features) as string[],
          trialEligible: Boolean(Number(plan.trialEligible)),
        },
        downgrade: false,
        cycle: cycleAt({ anchorDay: Number(ws.anchor), now: input.now }),
        actor: `payment:${input.provider}`,
        reason: `Plan order ${order.id} paid`,
        now: input.now,
      },
    );
    const upd = await tx.run(
      `UPDATE orders SET status = 'paid', updated_at = ? WHERE id = ? AND status = 'pending'`,
      [input.now, order.id],
    );
    if (upd.changes !== 1) throw new Error(`ledger bug: order ${order.id} changed while locked`);
    return { result: 'paid', order: { ...order, status: 'paid', updatedAt: input.now } };
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

  /**
   * Refund a paid order: what is left of its lot leaves the wallet as a `refund` entry, the
   * lot closes (credits still held by running jobs expire when they return), and the answer
   * says how much had already been spent.
   */
  refundOrder(input: {
    orderId: string;
    actor: string;
    reason: string;
    now: number;
    idempotencyKey: string;
    requestHash: string;
  }): Promise<{
    orderId: string;
    refunded: number;
    alreadySpent: number;
    stillHeld: number;
    balance: number;
  }> {
    return this.idempotent(
      {
        scope: '_admin',
        key: input.idempotencyKey,
        operation: 'refund',
        requestHash: input.requestHash,
        now: input.now,
      },
      async (tx) => {
        const row = await tx.get<Order>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE id = ?`, [
          input.orderId,
        ]);
        if (!row) throw new CreditsError('NOT_FOUND', 'No such order.', { orderId: input.orderId });
        const order = toOrder(row);
        if (order.kind === 'plan')
          throw new CreditsError(
            'VALIDATION',
            'A plan order has no credits to take back: change the plan (admin.workspaces.setPlan) and refund the payment at the provider.',
            { orderId: order.id, kind: order.kind },
          );
        if (order.status !== 'paid' || !order.lotId) {
          throw new CreditsError(
            'VALIDATION',
            `Only a paid order can be refunded; this one is ${order.status}.`,
            { status: order.status },
          );
        }
        const w = await this.ledger(tx).openWallet(order.workspaceId, order.wallet);
        const lot = await tx.get<{ granted: number; remaining: number; expiredAt: number | null }>(
          `SELECT granted, remaining, expired_at AS "expiredAt" FROM lots WHERE id = ? ${this.driver.lockRows}`,
          [order.lotId],
        );
        if (!lot) throw new Error(`ledger bug: order ${order.id} has no lot`);
        const held = await tx.get<{ n: number | null }>(
          `SELECT SUM(h.amount) AS n FROM hold_lots h JOIN jobs j ON j.id = h.job_id WHERE h.lot_id = ? AND j.status = 'reserved'`,
          [order.lotId],
        );
        const remaining = Number(lot.remaining);
        const stillHeld = Number(held?.n ?? 0);
        const alreadySpent = Number(lot.granted) - remaining - stillHeld;
        // What is left of the lot leaves through the one spend path (money/spend.ts), then the
        // lot closes: credits still held by running jobs expire when they return.
        if (remaining > 0) {
          await spendFromLots(this.ledger(tx), w, {
            credits: remaining,
            from: { lotId: order.lotId },
            now: input.now,
            actor: input.actor,
          });
        }
        await tx.run(
          `UPDATE lots SET expired_at = COALESCE(expired_at, ?),
             expires_at = CASE WHEN expires_at IS NULL OR expires_at > ? THEN ? ELSE expires_at END WHERE id = ?`,
          [input.now, input.now, input.now, order.lotId],
        );
        if (remaining > 0) {
          await w.entry({
            type: 'refund',
            amount: -remaining,
            availableDelta: -remaining,
            heldDelta: 0,
            orderId: order.id,
            actor: input.actor,
            description: `Refund of order ${order.id}: ${input.reason}`,
            lots: [{ lotId: order.lotId, amount: -remaining }],
            now: input.now,
          });
        }
        const after = await w.save(input.now);
        await tx.run(
          `UPDATE orders SET status = 'refunded', refunded_credits = ?, spent_before_refund = ?, updated_at = ? WHERE id = ?`,
          [remaining, alreadySpent, input.now, order.id],
        );
        const result = {
          orderId: order.id,
          refunded: remaining,
          alreadySpent,
          stillHeld,
          balance: after.available,
        };
        await writeAudit(
          tx,
          {
            actor: input.actor,
            action: 'order.refund',
            target: `order:${order.id}`,
            workspaceId: order.workspaceId,
            reason: input.reason,
            before: { status: 'paid' },
            after: result,
          },
          input.now,
        );
        return result;
      },
    );
  }

  // ---------------------------------------------------------------- adjustments

  /**
   * A signed manual adjustment: a positive one is a new `adjustment` lot; a negative one
   * draws from the wallet's lots in spend order (any restriction) and never below zero.
   */
  adjust(input: {
    workspaceId: string;
    wallet: WalletKind;
    amount: number;
    reason: string;
    actor: string;
    now: number;
    idempotencyKey: string;
    requestHash: string;
  }): Promise<{
    wallet: WalletKind;
    amount: number;
    balance: number;
    lots: { lotId: string; amount: number }[];
  }> {
    if (!Number.isSafeInteger(input.amount) || input.amount === 0)
      throw new Error('adjustment must be a non-zero integer');
    return this.idempotent(
      {
        scope: input.workspaceId,
        key: input.idempotencyKey,
        operation: 'adjust',
        requestHash: input.requestHash,
        now: input.now,
        audit: {
          actor: input.actor,
          action: 'ledger.adjust',
          target: `wallet:${input.workspaceId}/${input.wallet}`,
          workspaceId: input.workspaceId,
          reason: input.reason,
        },
      },
      async (tx) => {
        const ltx = this.ledger(tx);
        const w = await ltx.openWallet(input.workspaceId, input.wallet);
        let lots: { lotId: string; amount: number }[];
        if (input.amount > 0) {
          const lotId = `lot_${randomUUID().replaceAll('-', '')}`;
          await tx.run(
            `INSERT INTO lots (id, workspace_id, wallet, source, granted, remaining, created_at) VALUES (?, ?, ?, 'adjustment', ?, ?, ?)`,
            [lotId, input.workspaceId, input.wallet, input.amount, input.amount, input.now],
          );
          lots = [{ lotId, amount: input.amount }];
        } else {
          const drawn = await spendFromLots(ltx, w, {
            credits: -input.amount,
            from: { anyLot: true },
            now: input.now,
            actor: input.actor,
            refusal: 'The wallet has fewer credits than this adjustment removes.',
          });
          lots = drawn.map((a) => ({ lotId: a.lotId, amount: -a.amount }));
        }
        await w.entry({
          type: 'adjustment',
          amount: input.amount,
          availableDelta: input.amount,
          heldDelta: 0,
          actor: input.actor,
          description: input.reason,
          lots,
          now: input.now,
        });
        const after = await w.save(input.now);
        return { wallet: input.wallet, amount: input.amount, balance: after.available, lots };
      },
    );
  }
}

/**
 * What a `paid` event gets wrong about its order: the amount (minor units), the currency and
 * the order's id as the provider's reference must all be the order's own. Empty when it matches.
 */
export function paymentMismatch(order: Order, paid: PaymentFacts | null): string[] {
  if (!paid) return ['amount', 'currency', 'reference'];
  const wrong: string[] = [];
  if (paid.amount !== order.priceCents) wrong.push('amount');
  if (paid.currency?.toLowerCase() !== order.currency.toLowerCase()) wrong.push('currency');
  if (paid.reference !== order.id) wrong.push('reference');
  return wrong;
}
