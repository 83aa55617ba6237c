import {
  AUTO_TOP_UP_MAX_FAILURES,
  CreditsError,
  withinMonthlyCap,
  type WalletKind,
} from '@credits/domain';
import type { Driver, Executor, TxExecutor } from '../executor.js';
import { writeAudit } from '../audit-log.js';
import { auditChange, newId, notify } from './shared.js';
import type {
  AutoTopUpAttempt,
  AutoTopUpConsent,
  AutoTopUpDisabledReason,
  AutoTopUpSetting,
  AutoTopUpSkip,
  AutoTopUpStore,
  PaymentMethod,
} from './types.js';

const METHOD_COLUMNS = `id, workspace_id AS "workspaceId", provider, customer_ref AS "customerRef", method_ref AS "methodRef",
  label, created_by AS "createdBy", created_at AS "createdAt"`;
const toMethod = (r: PaymentMethod): PaymentMethod => ({ ...r, createdAt: Number(r.createdAt) });

const CONSENT_COLUMNS = `c.id, c.workspace_id AS "workspaceId", c.wallet, c.given_by AS "givenBy", c.given_at AS "givenAt",
  c.terms, c.pack_id AS "packId", c.pack_credits AS "packCredits", c.price_cents AS "priceCents", c.currency,
  c.threshold, c.monthly_cap_cents AS "monthlyCapCents"`;
function toConsent(r: AutoTopUpConsent): AutoTopUpConsent {
  return {
    id: r.id,
    workspaceId: r.workspaceId,
    wallet: r.wallet,
    givenBy: r.givenBy,
    givenAt: Number(r.givenAt),
    terms: r.terms,
    packId: r.packId,
    packCredits: Number(r.packCredits),
    priceCents: Number(r.priceCents),
    currency: r.currency,
    threshold: Number(r.threshold),
    monthlyCapCents: Number(r.monthlyCapCents),
  };
}

type SettingRow = AutoTopUpConsent & {
  enabled: number | boolean;
  consecutiveFailures: number;
  disabledReason: AutoTopUpDisabledReason | null;
  updatedAt: number;
};
const SETTING_SELECT = `SELECT a.enabled, a.consecutive_failures AS "consecutiveFailures", a.disabled_reason AS "disabledReason",
  a.updated_at AS "updatedAt", ${CONSENT_COLUMNS}
  FROM auto_top_ups a JOIN auto_top_up_consents c ON c.id = a.consent_id`;
function toSetting(r: SettingRow): AutoTopUpSetting {
  return {
    workspaceId: r.workspaceId,
    wallet: r.wallet,
    enabled: Boolean(Number(r.enabled)),
    consecutiveFailures: Number(r.consecutiveFailures),
    disabledReason: r.disabledReason,
    updatedAt: Number(r.updatedAt),
    consent: toConsent(r),
  };
}

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
 * Auto top-up over a {@link Driver}: saved payment methods, consents (kept word for word),
 * settings, and the purchases it starts — one per threshold crossing, one pending per
 * wallet, never above the cycle's money cap — settled from the payment webhook's outcome.
 */
export class SqlAutoTopUp implements AutoTopUpStore {
  constructor(
    private readonly driver: Driver,
    /** The wallet's label as the catalog has it now (for notification texts). */
    private readonly walletLabel: (kind: WalletKind) => string,
  ) {}

  // ---------------------------------------------------------------- payment methods

  paymentMethod(input: { workspaceId: string; provider: string }): Promise<PaymentMethod | null> {
    return currentMethod(this.driver.read, input);
  }

  savePaymentMethod(
    input: Parameters<AutoTopUpStore['savePaymentMethod']>[0],
  ): Promise<PaymentMethod> {
    return this.driver.write(async (tx) => {
      if (!(await tx.get(`SELECT 1 AS x FROM workspaces WHERE id = ?`, [input.workspaceId])))
        throw new CreditsError('WORKSPACE_NOT_FOUND', 'No such workspace.', {
          workspaceId: input.workspaceId,
        });
      const id = newId('pm');
      const made = await tx.run(
        `INSERT INTO payment_methods (id, workspace_id, provider, customer_ref, method_ref, label, created_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        [
          id,
          input.workspaceId,
          input.provider,
          input.customerRef,
          input.methodRef,
          input.label,
          input.createdBy,
          input.now,
        ],
      );
      const saved = await tx.get<PaymentMethod>(
        `SELECT ${METHOD_COLUMNS} FROM payment_methods WHERE provider = ? AND method_ref = ?`,
        [input.provider, input.methodRef],
      );
      if (!saved) throw new Error(`payment method ${input.methodRef} vanished`);
      if (saved.workspaceId !== input.workspaceId)
        throw new CreditsError('VALIDATION', 'This payment method belongs to another workspace.', {
          field: 'method',
        });
      if (made.changes === 1) {
        // One saved method per workspace and provider: the new one replaces the old.
        await tx.run(
          `UPDATE payment_methods SET removed_at = ? WHERE workspace_id = ? AND provider = ? AND id <> ? AND removed_at IS NULL`,
          [input.now, input.workspaceId, input.provider, id],
        );
        await writeAudit(
          tx,
          {
            actor: input.createdBy,
            action: 'payment_method.save',
            target: `payment_method:${id}`,
            workspaceId: input.workspaceId,
            after: { provider: input.provider, label: input.label },
          },
          input.now,
        );
      }
      return toMethod(saved);
    });
  }

  removePaymentMethod(
    input: Parameters<AutoTopUpStore['removePaymentMethod']>[0],
  ): Promise<boolean> {
    return this.driver.write(async (tx) => {
      const current = await currentMethod(tx, input);
      if (!current) return false;
      await tx.run(`UPDATE payment_methods SET removed_at = ? WHERE id = ?`, [
        input.now,
        current.id,
      ]);
      // Nothing left to charge: auto top-up stops (the owner did this, so no notification).
      await tx.run(
        `UPDATE auto_top_ups SET enabled = 0, disabled_reason = 'no_payment_method', updated_at = ?
         WHERE workspace_id = ? AND enabled = 1`,
        [input.now, input.workspaceId],
      );
      await auditChange(tx, input, `payment_method:${current.id}`, {
        before: { provider: current.provider, label: current.label },
        after: null,
      });
      return true;
    });
  }

  // ---------------------------------------------------------------- settings

  async settings(input: { workspaceId: string }): Promise<AutoTopUpSetting[]> {
    const rows = await this.driver.read.all<SettingRow>(
      `${SETTING_SELECT} WHERE a.workspace_id = ? ORDER BY a.wallet`,
      [input.workspaceId],
    );
    return rows.map(toSetting);
  }

  enable(input: Parameters<AutoTopUpStore['enable']>[0]): Promise<AutoTopUpSetting> {
    const c = input.consent;
    return this.driver.write(async (tx) => {
      const before = await tx.get<SettingRow>(
        `${SETTING_SELECT} WHERE a.workspace_id = ? AND a.wallet = ? ${this.driver.lockRows}`,
        [c.workspaceId, c.wallet],
      );
      const consent: AutoTopUpConsent = { ...c, id: newId('consent') };
      await tx.run(
        `INSERT INTO auto_top_up_consents (id, workspace_id, wallet, given_by, given_at, terms, pack_id, pack_credits,
           price_cents, currency, threshold, monthly_cap_cents) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          consent.id,
          c.workspaceId,
          c.wallet,
          c.givenBy,
          c.givenAt,
          c.terms,
          c.packId,
          c.packCredits,
          c.priceCents,
          c.currency,
          c.threshold,
          c.monthlyCapCents,
        ],
      );
      await tx.run(
        `INSERT INTO auto_top_ups (workspace_id, wallet, enabled, consent_id, consecutive_failures, disabled_reason, updated_at)
         VALUES (?, ?, 1, ?, 0, NULL, ?)
         ON CONFLICT (workspace_id, wallet) DO UPDATE SET enabled = 1, consent_id = excluded.consent_id,
           consecutive_failures = 0, disabled_reason = NULL, updated_at = excluded.updated_at`,
        [c.workspaceId, c.wallet, consent.id, input.now],
      );
      const setting: AutoTopUpSetting = {
        workspaceId: c.workspaceId,
        wallet: c.wallet,
        enabled: true,
        consecutiveFailures: 0,
        disabledReason: null,
        updatedAt: input.now,
        consent,
      };
      await auditChange(tx, { ...input, workspaceId: c.workspaceId }, `auto_top_up:${c.wallet}`, {
        before: before ? toSetting(before) : null,
        after: setting,
      });
      return setting;
    });
  }

  disable(input: Parameters<AutoTopUpStore['disable']>[0]): Promise<boolean> {
    return this.driver.write(async (tx) => {
      const r = await tx.run(
        `UPDATE auto_top_ups SET enabled = 0, disabled_reason = 'owner', updated_at = ?
         WHERE workspace_id = ? AND wallet = ? AND enabled = 1`,
        [input.now, input.workspaceId, input.wallet],
      );
      if (r.changes !== 1) return false;
      await auditChange(tx, input, `auto_top_up:${input.wallet}`, {
        before: { enabled: true },
        after: { enabled: false },
      });
      return true;
    });
  }

  // ---------------------------------------------------------------- purchases

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

  unsettled(input: { limit: number }): Promise<{ orderId: string }[]> {
    return this.driver.read.all<{ orderId: string }>(
      `SELECT a.order_id AS "orderId" FROM auto_top_up_attempts a JOIN orders o ON o.id = a.order_id
       WHERE a.status = 'pending' AND o.status <> 'pending' ORDER BY a.created_at LIMIT ?`,
      [input.limit],
    );
  }

  async lostCrossings(input: {
    limit: number;
  }): Promise<{ workspaceId: string; wallet: WalletKind; crossingKey: string }[]> {
    const below = await this.driver.read.all<{
      workspaceId: string;
      wallet: WalletKind;
      threshold: number;
    }>(
      `SELECT a.workspace_id AS "workspaceId", a.wallet, c.threshold
         FROM auto_top_ups a
         JOIN auto_top_up_consents c ON c.id = a.consent_id
         JOIN wallets w ON w.workspace_id = a.workspace_id AND w.kind = a.wallet
        WHERE a.enabled = 1 AND w.available < c.threshold
          AND NOT EXISTS (SELECT 1 FROM auto_top_up_attempts t
                           WHERE t.workspace_id = a.workspace_id AND t.wallet = a.wallet
                             AND t.status = 'pending')
        ORDER BY a.workspace_id, a.wallet LIMIT ?`,
      [input.limit],
    );
    const out: { workspaceId: string; wallet: WalletKind; crossingKey: string }[] = [];
    for (const b of below) {
      const threshold = Number(b.threshold);
      const crossing = await this.driver.read.get<{ jobId: string }>(
        `SELECT job_id AS "jobId" FROM ledger_entries
          WHERE workspace_id = ? AND wallet = ? AND job_id IS NOT NULL AND type IN ('hold', 'spend')
            AND amount < 0
            AND balance_after < ? AND balance_after - amount >= ?
          ORDER BY id DESC LIMIT 1`,
        [b.workspaceId, b.wallet, threshold, threshold],
      );
      if (crossing)
        out.push({
          workspaceId: b.workspaceId,
          wallet: b.wallet,
          crossingKey: `${b.wallet}:${crossing.jobId}`,
        });
    }
    return out;
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

/** The workspace's saved method with this provider (the newest not removed). */
async function currentMethod(
  ex: Executor,
  input: { workspaceId: string; provider: string },
): Promise<PaymentMethod | null> {
  const row = await ex.get<PaymentMethod>(
    `SELECT ${METHOD_COLUMNS} FROM payment_methods WHERE workspace_id = ? AND provider = ? AND removed_at IS NULL
     ORDER BY created_at DESC, id DESC LIMIT 1`,
    [input.workspaceId, input.provider],
  );
  return row ? toMethod(row) : null;
}
