import { CreditsError, walletStatus, type WalletKind } from '@credits/domain';
import { writeAudit } from '../audit-log.js';
import type { AuditInput } from '../account-types.js';
import type { Notification, WebhookDelivery } from './types.js';
import { BillingPart, NOTIFICATION_COLUMNS, num } from './part.js';

/** Low/empty notifications and the delivery of their signed webhooks. */
export class AlertStore extends BillingPart {
  // ---------------------------------------------------------------- notifications

  async notifications(input: {
    workspaceId: string;
    unreadOnly?: boolean;
    limit: number;
  }): Promise<Notification[]> {
    const rows = await this.driver.read.all<Notification>(
      `SELECT ${NOTIFICATION_COLUMNS} FROM notifications WHERE workspace_id = ? ${input.unreadOnly ? 'AND read_at IS NULL' : ''}
       ORDER BY id DESC LIMIT ?`,
      [input.workspaceId, input.limit],
    );
    return rows.map((r) => num(r, ['id', 'balance', 'createdAt', 'readAt', 'attempts']));
  }

  markRead(input: { workspaceId: string; ids: number[]; now: number }): Promise<number> {
    if (input.ids.length === 0) return Promise.resolve(0);
    return this.driver.write(async (tx) => {
      const r = await tx.run(
        `UPDATE notifications SET read_at = ? WHERE workspace_id = ? AND read_at IS NULL AND id IN (${input.ids.map(() => '?').join(', ')})`,
        [input.now, input.workspaceId, ...input.ids],
      );
      return r.changes;
    });
  }

  // ---------------------------------------------------------------- low thresholds

  async lowThresholds(
    workspaceId: string,
  ): Promise<{ wallet: WalletKind; lowThreshold: number; updatedAt: number }[]> {
    const rows = await this.driver.read.all<{
      wallet: WalletKind;
      lowThreshold: number;
      updatedAt: number;
    }>(
      `SELECT wallet, low_threshold AS "lowThreshold", updated_at AS "updatedAt"
         FROM wallet_low_thresholds WHERE workspace_id = ? ORDER BY wallet`,
      [workspaceId],
    );
    return rows.map((r) => num(r, ['lowThreshold', 'updatedAt']));
  }

  setLowThreshold(input: {
    workspaceId: string;
    wallet: WalletKind;
    lowThreshold: number | null;
    catalog: { label: string; lowThreshold: number; available: boolean };
    now: number;
    audit: AuditInput;
  }): Promise<{ lowThreshold: number; custom: boolean; alerted: boolean }> {
    return this.driver.write(async (tx) => {
      const wallet = await tx.get<{ available: number }>(
        `SELECT available FROM wallets WHERE workspace_id = ? AND kind = ?`,
        [input.workspaceId, input.wallet],
      );
      if (!wallet)
        throw new CreditsError('WORKSPACE_NOT_FOUND', 'No such workspace.', {
          workspaceId: input.workspaceId,
        });
      const old = await tx.get<{ lowThreshold: number }>(
        `SELECT low_threshold AS "lowThreshold" FROM wallet_low_thresholds WHERE workspace_id = ? AND wallet = ?`,
        [input.workspaceId, input.wallet],
      );
      const before = old ? Number(old.lowThreshold) : input.catalog.lowThreshold;
      const after = input.lowThreshold ?? input.catalog.lowThreshold;
      if (input.lowThreshold === null) {
        await tx.run(`DELETE FROM wallet_low_thresholds WHERE workspace_id = ? AND wallet = ?`, [
          input.workspaceId,
          input.wallet,
        ]);
      } else {
        await tx.run(
          `INSERT INTO wallet_low_thresholds (workspace_id, wallet, low_threshold, updated_by, updated_at)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (workspace_id, wallet) DO UPDATE SET low_threshold = excluded.low_threshold,
             updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
          [input.workspaceId, input.wallet, input.lowThreshold, input.audit.actor, input.now],
        );
      }
      await writeAudit(
        tx,
        {
          ...input.audit,
          target: `wallet:${input.workspaceId}:${input.wallet}`,
          workspaceId: input.workspaceId,
          before: { lowThreshold: before, custom: !!old },
          after: { lowThreshold: after, custom: input.lowThreshold !== null },
        },
        input.now,
      );
      const available = Number(wallet.available);
      const status = (lowThreshold: number) =>
        walletStatus({ balance: available, lowThreshold, available: input.catalog.available });
      const alerted = status(after) === 'low' && status(before) !== 'low';
      if (alerted)
        await tx.run(
          `INSERT INTO notifications (workspace_id, wallet, kind, balance, message, created_at, delivery, next_attempt_at)
           SELECT id, ?, 'low', ?, ?, ?, CASE WHEN alert_webhook_url IS NULL THEN 'none' ELSE 'pending' END, ?
           FROM workspaces WHERE id = ?`,
          [
            input.wallet,
            available,
            `${input.catalog.label} are low: ${available.toLocaleString('en-US')} left.`,
            input.now,
            input.now,
            input.workspaceId,
          ],
        );
      return { lowThreshold: after, custom: input.lowThreshold !== null, alerted };
    });
  }

  setAlertWebhook(input: {
    workspaceId: string;
    url: string | null;
    secret: string | null;
    now: number;
    audit: AuditInput;
  }): Promise<void> {
    return this.driver.write(async (tx) => {
      const r = await tx.run(
        `UPDATE workspaces SET alert_webhook_url = ?, alert_webhook_secret = ? WHERE id = ?`,
        [input.url, input.secret, input.workspaceId],
      );
      if (r.changes !== 1)
        throw new CreditsError('WORKSPACE_NOT_FOUND', 'No such workspace.', {
          workspaceId: input.workspaceId,
        });
      await writeAudit(
        tx,
        {
          ...input.audit,
          target: `workspace:${input.workspaceId}`,
          workspaceId: input.workspaceId,
          after: { url: input.url },
        },
        input.now,
      );
    });
  }

  /** Notifications whose webhook is due, with where to send them. */
  async dueDeliveries(input: {
    now: number;
    limit: number;
  }): Promise<(Notification & { url: string; secret: string })[]> {
    const rows = await this.driver.read.all<
      Notification & { url: string | null; secret: string | null }
    >(
      `SELECT n.id, n.workspace_id AS "workspaceId", n.wallet, n.kind, n.balance, n.message, n.created_at AS "createdAt",
         n.read_at AS "readAt", n.delivery, n.attempts, w.alert_webhook_url AS "url", w.alert_webhook_secret AS "secret"
       FROM notifications n JOIN workspaces w ON w.id = n.workspace_id
       WHERE n.delivery = 'pending' AND n.next_attempt_at <= ?
         AND w.alert_webhook_url IS NOT NULL AND w.alert_webhook_secret IS NOT NULL
       ORDER BY n.next_attempt_at LIMIT ?`,
      [input.now, input.limit],
    );
    return rows
      .filter(
        (r): r is Notification & { url: string; secret: string } =>
          r.url !== null && r.secret !== null,
      )
      .map((r) => num(r, ['id', 'balance', 'createdAt', 'attempts']));
  }

  /**
   * Claim a due delivery before sending it. The conditional update succeeds for one caller
   * only (another pass, another server process), and moves the next attempt to `leaseUntil`,
   * so a sender that dies mid-delivery is retried once the lease has run out.
   */
  claimDelivery(input: { id: number; now: number; leaseUntil: number }): Promise<boolean> {
    return this.driver.write(async (tx) => {
      const r = await tx.run(
        `UPDATE notifications SET next_attempt_at = ? WHERE id = ? AND delivery = 'pending' AND next_attempt_at <= ?`,
        [input.leaseUntil, input.id, input.now],
      );
      return r.changes === 1;
    });
  }

  recordDelivery(input: {
    id: number;
    ok: boolean;
    now: number;
    nextAttemptAt: number | null;
    log?: {
      workspaceId: string;
      url: string;
      statusCode: number | null;
      error: string | null;
      durationMs: number;
    };
  }): Promise<void> {
    return this.driver.write(async (tx) => {
      if (input.log)
        await tx.run(
          `INSERT INTO webhook_deliveries (workspace_id, notification_id, url, ok, status_code, error, duration_ms, attempted_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            input.log.workspaceId,
            input.id,
            input.log.url,
            input.ok ? 1 : 0,
            input.log.statusCode,
            input.log.error === null ? null : input.log.error.slice(0, 300),
            Math.max(0, Math.round(input.log.durationMs)),
            input.now,
          ],
        );
      await tx.run(
        `UPDATE notifications SET attempts = attempts + 1, delivery = ?, next_attempt_at = ? WHERE id = ? AND delivery = 'pending'`,
        [
          input.ok ? 'delivered' : input.nextAttemptAt === null ? 'failed' : 'pending',
          input.nextAttemptAt,
          input.id,
        ],
      );
    });
  }

  // ---------------------------------------------------------------- webhook settings and log

  async alertWebhook(workspaceId: string): Promise<{ url: string | null; hasSecret: boolean }> {
    const row = await this.driver.read.get<{ url: string | null; secret: string | null }>(
      `SELECT alert_webhook_url AS "url", alert_webhook_secret AS "secret" FROM workspaces WHERE id = ?`,
      [workspaceId],
    );
    return { url: row?.url ?? null, hasSecret: !!row?.secret };
  }

  rotateAlertWebhookSecret(input: {
    workspaceId: string;
    secret: string;
    now: number;
    audit: AuditInput;
  }): Promise<boolean> {
    return this.driver.write(async (tx) => {
      const r = await tx.run(
        `UPDATE workspaces SET alert_webhook_secret = ? WHERE id = ? AND alert_webhook_url IS NOT NULL`,
        [input.secret, input.workspaceId],
      );
      if (r.changes !== 1) return false;
      await writeAudit(
        tx,
        {
          ...input.audit,
          target: `workspace:${input.workspaceId}`,
          workspaceId: input.workspaceId,
        },
        input.now,
      );
      return true;
    });
  }

  async webhookDeliveries(input: {
    workspaceId: string;
    limit: number;
  }): Promise<WebhookDelivery[]> {
    const rows = await this.driver.read.all<
      Omit<WebhookDelivery, 'ok' | 'message'> & { ok: number | boolean; message: string | null }
    >(
      `SELECT d.id, d.notification_id AS "notificationId", d.url, d.ok, d.status_code AS "statusCode",
              d.error, d.duration_ms AS "durationMs", d.attempted_at AS "attemptedAt", n.message
         FROM webhook_deliveries d LEFT JOIN notifications n ON n.id = d.notification_id
        WHERE d.workspace_id = ? ORDER BY d.id DESC LIMIT ?`,
      [input.workspaceId, input.limit],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      notificationId: Number(r.notificationId),
      url: r.url,
      ok: Boolean(Number(r.ok)),
      statusCode: r.statusCode === null ? null : Number(r.statusCode),
      error: r.error,
      durationMs: Number(r.durationMs),
      attemptedAt: Number(r.attemptedAt),
      message: r.message ?? '',
    }));
  }

  resendNotification(input: {
    workspaceId: string;
    id: number;
    now: number;
    audit: AuditInput;
  }): Promise<boolean> {
    return this.driver.write(async (tx) => {
      const r = await tx.run(
        `UPDATE notifications SET delivery = 'pending', attempts = 0, next_attempt_at = ?
          WHERE id = ? AND workspace_id = ?
            AND EXISTS (SELECT 1 FROM workspaces w WHERE w.id = notifications.workspace_id AND w.alert_webhook_url IS NOT NULL)`,
        [input.now, input.id, input.workspaceId],
      );
      if (r.changes !== 1) return false;
      await writeAudit(
        tx,
        {
          ...input.audit,
          target: `notification:${input.id}`,
          workspaceId: input.workspaceId,
        },
        input.now,
      );
      return true;
    });
  }
}
