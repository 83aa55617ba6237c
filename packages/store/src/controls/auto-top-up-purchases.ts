import { AUTO_TOP_UP_MAX_FAILURES, withinMonthlyCap, type WalletKind } from '@credits/domain';
import type { Driver, TxExecutor } from '../executor.js';
import { writeAudit } from '../audit-log.js';
import { newId, notify } from './shared.js';
import {
  SETTING_SELECT,
  currentMethod,
  toConsent,
  type SettingRow,
} from './auto-top-up-settings.js';
import type { AutoTopUpAttempt, AutoTopUpSkip, AutoTopUpStore } from './types.js';

const ATTEMPT_COLUMNS = `id, workspace_id AS "workspaceId", wallet, crossing_key AS "crossingKey", cycle_key AS "cycleKey",
  order_id AS "orderId", price_cents AS "priceCents", status, created_at AS "createdAt", settled_at AS "settledAt"`;
const toAttempt = (r: AutoTopUpAttempt): AutoTopUpAttempt => ({
  ...r,
  priceCents: Number(r.priceCents),
  createdAt: Number(r.createdAt),
  settledAt: r.settledAt === null ? null : Number(r.settledAt),
});

/** Who auto top-up's orders are created by: the webhook route settles their attempts. */
export const AUTO_TOP_UP_ACTOR = 'system:auto_top_up';

/** What the settled order means for its attempt (null: still pending). */
const ATTEMPT_STATUS_OF_ORDER: Record<string, AutoTopUpAttempt['status'] | undefined> = {
  paid: 'paid',
  refunded: 'paid',
  declined: 'declined',
  expired: 'failed',
};

/**
 * Auto top-up's purchases over a {@link Driver}: one begun per threshold crossing, one pending
 * per wallet, never above the cycle's money cap, under the consent in force — and settled from
 * the payment webhook's outcome (declines in a row turn it off, with one notification).
 */
export class AutoTopUpPurchases implements Pick<AutoTopUpStore, 'attempts' | 'begin' | 'settle'> {
  constructor(
    private readonly driver: Driver,
    /** The wallet's label as the catalog has it now (for notification texts). */
    private readonly walletLabel: (kind: WalletKind) => string,
  ) {}

  async attempts(input: {
    workspaceId: string;
    wallet?: WalletKind;
    cycleKey?: string;
    limit: number;
  }): Promise<AutoTopUpAttempt[]> {
    const where = ['workspace_id = ?'];
    const params: unknown[] = [input.workspaceId];
    if (input.wallet) {
      where.push('wallet = ?');
      params.push(input.wallet);
    }
    if (input.cycleKey) {
      where.push('cycle_key = ?');
      params.push(input.cycleKey);
    }
    const rows = await this.driver.read.all<AutoTopUpAttempt>(
      `SELECT ${ATTEMPT_COLUMNS} FROM auto_top_up_attempts WHERE ${where.join(' AND ')}
       ORDER BY created_at DESC, id DESC LIMIT ?`,
      [...params, input.limit],
    );
    return rows.map(toAttempt);
  }

  begin(input: Parameters<AutoTopUpStore['begin']>[0]): ReturnType<AutoTopUpStore['begin']> {
    const skip = (skipped: AutoTopUpSkip) => ({ started: false as const, skipped });
    return this.driver.write(async (tx) => {
      // The settings row, locked (PostgreSQL): attempts for one wallet start one at a time.
      const row = await tx.get<SettingRow>(
        `${SETTING_SELECT} WHERE a.workspace_id = ? AND a.wallet = ? ${this.driver.lockRows}`,
        [input.workspaceId, input.wallet],
      );
      if (!row || !Number(row.enabled)) return skip('not_enabled');
      const consent = toConsent(row);
      const method = await currentMethod(tx, input);
      if (!method) return skip('no_payment_method');
      const pack = await tx.get<{
        credits: number;
        priceCents: number;
        currency: string;
        active: number;
      }>(`SELECT credits, price_cents AS "priceCents", currency, active FROM packs WHERE id = ?`, [
        consent.packId,
      ]);
      if (
        !pack ||
        !Number(pack.active) ||
        Number(pack.credits) !== consent.packCredits ||
        Number(pack.priceCents) !== consent.priceCents ||
        pack.currency !== consent.currency
      ) {
        // Never charge what the owner did not agree to: off until they agree to the pack as it is.
        await this.turnOff(tx, input, 'pack_changed', input.now);
        return skip('pack_changed');
      }
      const spent = await tx.get<{ n: number | null }>(
        `SELECT SUM(price_cents) AS n FROM auto_top_up_attempts
         WHERE workspace_id = ? AND wallet = ? AND cycle_key = ? AND status IN ('pending','paid')`,
        [input.workspaceId, input.wallet, input.cycleKey],
      );
      const spentCents = Number(spent?.n ?? 0);
      if (
        !withinMonthlyCap({
          spentCents,
          priceCents: consent.priceCents,
          capCents: consent.monthlyCapCents,
        })
      ) {
        return skip('cap_reached');
      }
      // The database decides: one attempt per crossing, one pending per wallet (UNIQUE keys).
      const attemptId = newId('atu');
      const claimed = await tx.all<{ id: string }>(
        `INSERT INTO auto_top_up_attempts (id, workspace_id, wallet, crossing_key, cycle_key, consent_id, price_cents, status, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING RETURNING id`,
        [
          attemptId,
          input.workspaceId,
          input.wallet,
          input.crossingKey,
          input.cycleKey,
          consent.id,
          consent.priceCents,
          input.now,
        ],
      );
      if (claimed.length !== 1) {
        const same = await tx.get(
          `SELECT 1 AS x FROM auto_top_up_attempts WHERE workspace_id = ? AND wallet = ? AND crossing_key = ?`,
          [input.workspaceId, input.wallet, input.crossingKey],
        );
        return skip(same ? 'duplicate_crossing' : 'in_flight');
      }
      const orderId = newId('ord');
      await tx.run(
        `INSERT INTO orders (id, workspace_id, pack_id, wallet, credits, price_cents, currency, provider, status,
           created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
        [
          orderId,
          input.workspaceId,
          consent.packId,
          input.wallet,
          consent.packCredits,
          consent.priceCents,
          consent.currency,
          input.provider,
          AUTO_TOP_UP_ACTOR,
          input.now,
          input.now,
        ],
      );
      await tx.run(`UPDATE auto_top_up_attempts SET order_id = ? WHERE id = ?`, [
        orderId,
        attemptId,
      ]);
      const attempt: AutoTopUpAttempt = {
        id: attemptId,
        workspaceId: input.workspaceId,
        wallet: input.wallet,
        crossingKey: input.crossingKey,
        cycleKey: input.cycleKey,
        orderId,
        priceCents: consent.priceCents,
        status: 'pending',
        createdAt: input.now,
        settledAt: null,
      };
      return { started: true as const, attempt, method, consent };
    });
  }

  settle(input: {
    orderId: string;
    now: number;
    failed?: boolean;
  }): ReturnType<AutoTopUpStore['settle']> {
    return this.driver.write(async (tx) => {
      const attempt = await tx.get<AutoTopUpAttempt>(
        `SELECT ${ATTEMPT_COLUMNS} FROM auto_top_up_attempts WHERE order_id = ?`,
        [input.orderId],
      );
      if (!attempt) return { settled: false, status: null, turnedOff: false };
      if (input.failed) {
        // The provider never took a payment: the order ends with no credits, the attempt
        // without counting as a decline.
        await tx.run(
          `UPDATE orders SET status = 'expired', updated_at = ? WHERE id = ? AND status = 'pending'`,
          [input.now, input.orderId],
        );
      }
      const order = await tx.get<{ status: string }>(`SELECT status FROM orders WHERE id = ?`, [
        input.orderId,
      ]);
      const status = ATTEMPT_STATUS_OF_ORDER[order?.status ?? ''];
      const unchanged = { settled: false, status: attempt.status, turnedOff: false };
      if (!status) return unchanged;
      const moved = await tx.run(
        `UPDATE auto_top_up_attempts SET status = ?, settled_at = ? WHERE id = ? AND status = 'pending'`,
        [status, input.now, attempt.id],
      );
      if (moved.changes !== 1) return unchanged;
      const wallet = [attempt.workspaceId, attempt.wallet];
      if (status === 'paid') {
        await tx.run(
          `UPDATE auto_top_ups SET consecutive_failures = 0 WHERE workspace_id = ? AND wallet = ?`,
          wallet,
        );
        return { settled: true, status, turnedOff: false };
      }
      if (status === 'failed') return { settled: true, status, turnedOff: false };
      const after = await tx.all<{ n: number }>(
        `UPDATE auto_top_ups SET consecutive_failures = consecutive_failures + 1, updated_at = ?
         WHERE workspace_id = ? AND wallet = ? RETURNING consecutive_failures AS n`,
        [input.now, ...wallet],
      );
      const turnedOff =
        Number(after[0]?.n ?? 0) >= AUTO_TOP_UP_MAX_FAILURES &&
        (await this.turnOff(tx, attempt, 'declines', input.now));
      return { settled: true, status, turnedOff };
    });
  }

  /** Off for a reason of the system's own, with one notification; false when it was already off. */
  private async turnOff(
    tx: TxExecutor,
    at: { workspaceId: string; wallet: WalletKind },
    reason: 'declines' | 'pack_changed',
    now: number,
  ): Promise<boolean> {
    const r = await tx.run(
      `UPDATE auto_top_ups SET enabled = 0, disabled_reason = ?, updated_at = ?
       WHERE workspace_id = ? AND wallet = ? AND enabled = 1`,
      [reason, now, at.workspaceId, at.wallet],
    );
    if (r.changes !== 1) return false;
    const why =
      reason === 'declines'
        ? `${AUTO_TOP_UP_MAX_FAILURES} payments in a row were declined. Check the saved payment method, then turn it on again.`
        : 'the pack it buys changed or is no longer on sale. Choose a pack and turn it on again.';
    await notify(
      tx,
      {
        workspaceId: at.workspaceId,
        wallet: at.wallet,
        kind: 'auto_top_up_off',
        balance: 0,
        message: `Auto top-up for ${this.walletLabel(at.wallet)} is off: ${why}`,
      },
      now,
    );
    await writeAudit(
      tx,
      {
        actor: 'system:auto_top_up',
        action: 'auto_top_up.off',
        target: `auto_top_up:${at.wallet}`,
        workspaceId: at.workspaceId,
        reason,
        after: { enabled: false, disabledReason: reason },
      },
      now,
    );
    return true;
  }
}
