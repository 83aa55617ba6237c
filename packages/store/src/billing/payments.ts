import { randomUUID } from 'node:crypto';
import { cycleAt } from '@credits/domain';
import { writeAudit } from '../audit-log.js';
import type { TxExecutor } from '../executor.js';
import { changePlanIn } from './cycles.js';
import type { BillingStore, Order, PaymentFacts } from './types.js';
import { BillingPart, ORDER_COLUMNS, toOrder } from './part.js';

/**
 * Payment events: a verified event applied once to its order — checked against the order
 * (amount, currency, reference), then a purchase lot for a pack, the plan change for a plan,
 * or a declined/expired order with no credits.
 */
export class PaymentStore extends BillingPart {
  /**
   * Apply a verified payment event once: the event id is claimed first (a UNIQUE key, kept
   * for good), then a pending order becomes paid with a purchase lot in the pack's wallet
   * (never another), or declined/expired with no credits. Returns what happened.
   */
  applyPaymentEvent(
    input: Parameters<BillingStore['applyPaymentEvent']>[0],
  ): ReturnType<BillingStore['applyPaymentEvent']> {
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
