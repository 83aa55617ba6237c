import { randomUUID } from 'node:crypto';
import { CreditsError, type WalletKind } from '@credits/domain';
import { writeAudit } from '../audit-log.js';
import { spendFromLots } from '../money/spend.js';
import type { BillingStore, Order } from './types.js';
import { BillingPart, ORDER_COLUMNS, toOrder } from './part.js';

/**
 * An admin's corrections to a wallet: the refund of a paid order (what is left of its lot
 * leaves the wallet) and signed manual adjustments. Both idempotent and audited.
 */
export class AdjustmentStore extends BillingPart {
  /**
   * Refund a paid order: what is left of its lot leaves the wallet as a `refund` entry, the
   * lot closes (credits still held by running jobs expire when they return), and the answer
   * says how much had already been spent.
   */
  refundOrder(
    input: Parameters<BillingStore['refundOrder']>[0],
  ): ReturnType<BillingStore['refundOrder']> {
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
