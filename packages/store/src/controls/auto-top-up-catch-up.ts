import type { WalletKind } from '@credits/domain';
import type { Driver } from '../executor.js';
import type { AutoTopUpStore } from './types.js';

/**
 * The sweeper's catch-up for auto top-up over a {@link Driver}: attempts still pending whose
 * order is settled (a crash between the two), and crossings whose trigger was lost.
 */
export class AutoTopUpCatchUp implements Pick<AutoTopUpStore, 'unsettled' | 'lostCrossings'> {
  constructor(private readonly driver: Driver) {}

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
}
