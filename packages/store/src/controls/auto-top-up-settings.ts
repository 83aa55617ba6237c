import { CreditsError } from '@credits/domain';
import type { Driver, Executor } from '../executor.js';
import { writeAudit } from '../audit-log.js';
import { auditChange, newId } from './shared.js';
import type {
  AutoTopUpConsent,
  AutoTopUpDisabledReason,
  AutoTopUpSetting,
  AutoTopUpStore,
  PaymentMethod,
} from './types.js';

const METHOD_COLUMNS = `id, workspace_id AS "workspaceId", provider, customer_ref AS "customerRef", method_ref AS "methodRef",
  label, created_by AS "createdBy", created_at AS "createdAt"`;
const toMethod = (r: PaymentMethod): PaymentMethod => ({ ...r, createdAt: Number(r.createdAt) });

const CONSENT_COLUMNS = `c.id, c.workspace_id AS "workspaceId", c.wallet, c.given_by AS "givenBy", c.given_at AS "givenAt",
  c.terms, c.pack_id AS "packId", c.pack_credits AS "packCredits", c.price_cents AS "priceCents", c.currency,
  c.threshold, c.monthly_cap_cents AS "monthlyCapCents"`;
export function toConsent(r: AutoTopUpConsent): AutoTopUpConsent {
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

export type SettingRow = AutoTopUpConsent & {
  enabled: number | boolean;
  consecutiveFailures: number;
  disabledReason: AutoTopUpDisabledReason | null;
  updatedAt: number;
};
export const SETTING_SELECT = `SELECT a.enabled, a.consecutive_failures AS "consecutiveFailures", a.disabled_reason AS "disabledReason",
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

/**
 * Auto top-up's settings over a {@link Driver}: the saved payment method, and turning it on
 * (under a consent kept word for word) and off. Each owner's change audited in its transaction.
 */
export class AutoTopUpSettings implements Pick<
  AutoTopUpStore,
  'paymentMethod' | 'savePaymentMethod' | 'removePaymentMethod' | 'settings' | 'enable' | 'disable'
> {
  constructor(private readonly driver: Driver) {}

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
}

/** The workspace's saved method with this provider (the newest not removed). */
export async function currentMethod(
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
