import { randomUUID } from 'node:crypto';
import type { WalletKind } from '@credits/domain';
import type { Executor, TxExecutor } from '../executor.js';
import { writeAudit } from '../audit-log.js';
import type { ControlsAudit } from './types.js';

export function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}

/** An in-app notification, and its signed webhook when the workspace has one (delivered by the sweeper). */
export async function notify(
  tx: Executor,
  n: { workspaceId: string; wallet: WalletKind; kind: string; balance: number; message: string },
  now: number,
): Promise<void> {
  await tx.run(
    `INSERT INTO notifications (workspace_id, wallet, kind, balance, message, created_at, delivery, next_attempt_at)
     SELECT id, ?, ?, ?, ?, ?, CASE WHEN alert_webhook_url IS NULL THEN 'none' ELSE 'pending' END, ?
     FROM workspaces WHERE id = ?`,
    [n.wallet, n.kind, n.balance, n.message, now, now, n.workspaceId],
  );
}

/** The audit row of an owner's change, in the change's transaction. */
export function auditChange(
  tx: TxExecutor,
  input: { workspaceId: string; now: number; audit: ControlsAudit },
  target: string,
  change: { before: unknown; after: unknown },
): Promise<void> {
  return writeAudit(
    tx,
    {
      actor: input.audit.actor,
      action: input.audit.action,
      reason: input.audit.reason ?? null,
      target,
      workspaceId: input.workspaceId,
      ...change,
    },
    input.now,
  );
}
