import { CreditsError } from '@credits/domain';
import { writeAudit } from '../accounts-store.js';
import type { AuditInput } from '../account-types.js';
import type { Notification } from './types.js';
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
  }): Promise<void> {
    return this.driver.write(async (tx) => {
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
}
