import { CreditsError, type LimitScope, type WalletKind } from '@credits/domain';
import type { Driver } from '../executor.js';
import { auditChange, notify } from './shared.js';
import { rebuildCounters } from './enforce.js';
import { spendByActor } from '../reads.js';
import type { ActorSpend, ActorUsage, LimitAlert, SpendLimit, SpendLimitsStore } from './types.js';

/** The workspace's own limit is stored with subject '' (a key column cannot be NULL). */
const subjectKey = (scope: LimitScope, subjectId: string | null) =>
  scope === 'workspace' ? '' : (subjectId ?? '');
const subjectOf = (stored: string) => (stored === '' ? null : stored);

const LIMIT_COLUMNS = `workspace_id AS "workspaceId", wallet, scope, subject_id AS "subjectId", amount, mode,
  thresholds, updated_by AS "updatedBy", updated_at AS "updatedAt"`;
type LimitRow = Omit<SpendLimit, 'thresholds'> & { thresholds: string; subjectId: string };
function toLimit(r: LimitRow): SpendLimit {
  return {
    ...r,
    subjectId: subjectOf(r.subjectId),
    amount: Number(r.amount),
    thresholds: JSON.parse(r.thresholds) as number[],
    updatedAt: Number(r.updatedAt),
  };
}

/**
 * Spending limits over a {@link Driver}: per workspace, member and key × wallet, each change
 * audited in its transaction; what counts against them; the thresholds alerted per cycle.
 */
export class SqlSpendLimits implements SpendLimitsStore {
  constructor(private readonly driver: Driver) {}

  async list(input: { workspaceId: string; wallet?: WalletKind }): Promise<SpendLimit[]> {
    const rows = await this.driver.read.all<LimitRow>(
      `SELECT ${LIMIT_COLUMNS} FROM spend_limits WHERE workspace_id = ? ${input.wallet ? 'AND wallet = ?' : ''}
       ORDER BY wallet, CASE scope WHEN 'workspace' THEN 0 WHEN 'member' THEN 1 ELSE 2 END, subject_id`,
      input.wallet ? [input.workspaceId, input.wallet] : [input.workspaceId],
    );
    return rows.map(toLimit);
  }

  set(input: Parameters<SpendLimitsStore['set']>[0]): Promise<SpendLimit> {
    const subject = subjectKey(input.scope, input.subjectId);
    return this.driver.write(async (tx) => {
      const key = [input.workspaceId, input.wallet, input.scope, subject];
      const before = await tx.get<LimitRow>(
        `SELECT ${LIMIT_COLUMNS} FROM spend_limits WHERE workspace_id = ? AND wallet = ? AND scope = ? AND subject_id = ?`,
        key,
      );
      const wallet = await tx.get(
        `SELECT 1 AS x FROM wallets WHERE workspace_id = ? AND kind = ?`,
        [input.workspaceId, input.wallet],
      );
      if (!wallet)
        throw new CreditsError('WORKSPACE_NOT_FOUND', 'No such workspace (or wallet).', {
          workspaceId: input.workspaceId,
        });
      const limit: SpendLimit = {
        workspaceId: input.workspaceId,
        wallet: input.wallet,
        scope: input.scope,
        subjectId: subjectOf(subject),
        amount: input.amount,
        mode: input.mode,
        thresholds: [...input.thresholds],
        updatedBy: input.audit.actor,
        updatedAt: input.now,
      };
      await tx.run(
        `INSERT INTO spend_limits (workspace_id, wallet, scope, subject_id, amount, mode, thresholds, updated_by, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (workspace_id, wallet, scope, subject_id) DO UPDATE SET amount = excluded.amount,
           mode = excluded.mode, thresholds = excluded.thresholds, updated_by = excluded.updated_by,
           updated_at = excluded.updated_at`,
        [
          ...key,
          input.amount,
          input.mode,
          JSON.stringify(limit.thresholds),
          input.audit.actor,
          input.now,
        ],
      );
      await auditChange(tx, input, `spend_limit:${input.wallet}/${input.scope}/${subject}`, {
        before: before ? toLimit(before) : null,
        after: limit,
      });
      await rebuildCounters(tx, { ...input, lockRows: this.driver.lockRows });
      return limit;
    });
  }

  remove(input: Parameters<SpendLimitsStore['remove']>[0]): Promise<boolean> {
    const subject = subjectKey(input.scope, input.subjectId);
    return this.driver.write(async (tx) => {
      const key = [input.workspaceId, input.wallet, input.scope, subject];
      const before = await tx.get<LimitRow>(
        `SELECT ${LIMIT_COLUMNS} FROM spend_limits WHERE workspace_id = ? AND wallet = ? AND scope = ? AND subject_id = ?`,
        key,
      );
      if (!before) return false;
      await tx.run(
        `DELETE FROM spend_limits WHERE workspace_id = ? AND wallet = ? AND scope = ? AND subject_id = ?`,
        key,
      );
      await auditChange(tx, input, `spend_limit:${input.wallet}/${input.scope}/${subject}`, {
        before: toLimit(before),
        after: null,
      });
      await rebuildCounters(tx, { ...input, lockRows: this.driver.lockRows });
      return true;
    });
  }

  spendByActor(input: Parameters<SpendLimitsStore['spendByActor']>[0]): Promise<ActorSpend[]> {
    return spendByActor(this.driver.read, input);
  }

  async usageByActor(input: {
    workspaceId: string;
    wallet: WalletKind;
    since: number;
  }): Promise<ActorUsage[]> {
    const rows = await this.driver.read.all<ActorUsage>(
      `SELECT actor,
         SUM(CASE WHEN status = 'completed' AND settled_at >= ? THEN COALESCE(captured, 0) ELSE 0 END) AS used,
         SUM(CASE WHEN status = 'reserved' THEN held ELSE 0 END) AS held
       FROM jobs WHERE workspace_id = ? AND wallet = ? AND (status = 'reserved' OR settled_at >= ?)
       GROUP BY actor ORDER BY actor`,
      [input.since, input.workspaceId, input.wallet, input.since],
    );
    return rows.map((r) => ({ actor: r.actor, used: Number(r.used), held: Number(r.held) }));
  }

  recordAlerts(input: Parameters<SpendLimitsStore['recordAlerts']>[0]): Promise<number[]> {
    if (input.thresholds.length === 0) return Promise.resolve([]);
    const subject = subjectKey(input.scope, input.subjectId);
    return this.driver.write(async (tx) => {
      const fresh: number[] = [];
      for (const threshold of input.thresholds) {
        const claimed = await tx.run(
          `INSERT INTO spend_limit_alerts (workspace_id, wallet, scope, subject_id, cycle_key, threshold, used, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
          [
            input.workspaceId,
            input.wallet,
            input.scope,
            subject,
            input.cycleKey,
            threshold,
            input.used,
            input.now,
          ],
        );
        if (claimed.changes === 1) fresh.push(threshold);
      }
      if (fresh.length > 0) {
        await notify(
          tx,
          {
            workspaceId: input.workspaceId,
            wallet: input.wallet,
            kind: 'limit_threshold',
            balance: input.used,
            message: input.message,
          },
          input.now,
        );
      }
      return fresh;
    });
  }

  async alerts(input: { workspaceId: string; cycleKey: string }): Promise<LimitAlert[]> {
    const rows = await this.driver.read.all<LimitAlert & { subjectId: string }>(
      `SELECT wallet, scope, subject_id AS "subjectId", cycle_key AS "cycleKey", threshold, used, created_at AS "createdAt"
       FROM spend_limit_alerts WHERE workspace_id = ? AND cycle_key = ? ORDER BY created_at, threshold`,
      [input.workspaceId, input.cycleKey],
    );
    return rows.map((r) => ({
      ...r,
      subjectId: subjectOf(r.subjectId),
      threshold: Number(r.threshold),
      used: Number(r.used),
      createdAt: Number(r.createdAt),
    }));
  }
}
