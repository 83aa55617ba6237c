import { randomUUID } from 'node:crypto';
import { CreditsError, type Plan, type WalletKind } from '@credits/domain';
import { writeAudit } from '../audit-log.js';
import type { TxExecutor } from '../executor.js';
import type { LedgerTx } from '../ledger-tx.js';
import { BillingPart } from './part.js';

/** Plans on workspaces (changes, pending downgrades) and what the AI Token cycle reads. */
export class CycleStore extends BillingPart {
  // ---------------------------------------------------------------- plans on workspaces and cycles

  /**
   * A plan change (an admin's, or an owner's scheduled downgrade), in one transaction under one
   * idempotency key ({@link changePlanIn} does the work): a downgrade (a smaller allowance)
   * waits for the next reset; anything else applies now, and the AI Tokens allowance rises at
   * once to the new limit less what was used this cycle (spent or held) — a top-up lot
   * expiring with the cycle. The same key and body replay the answer.
   */
  changePlan(input: {
    workspaceId: string;
    plan: Plan;
    downgrade: boolean;
    cycle: { key: string; start: number; end: number };
    actor: string;
    reason: string;
    now: number;
    idempotencyKey: string;
    requestHash: string;
    scope?: string;
  }): Promise<PlanChange> {
    return this.idempotent(
      {
        scope: input.scope ?? '_admin',
        key: `setPlan:${input.idempotencyKey}`,
        operation: 'setPlan',
        requestHash: input.requestHash,
        now: input.now,
      },
      (tx) => changePlanIn({ tx, lockRows: this.driver.lockRows, ledger: this.ledger(tx) }, input),
    );
  }

  /** Cancel a scheduled downgrade (audited); the plan it named, or null when none was pending. */
  cancelPendingPlan(input: {
    workspaceId: string;
    actor: string;
    now: number;
  }): Promise<string | null> {
    return this.driver.write(async (tx) => {
      const row = await tx.get<{ p: string | null }>(
        `SELECT pending_plan AS "p" FROM workspaces WHERE id = ? ${this.driver.lockRows}`,
        [input.workspaceId],
      );
      if (!row?.p) return null;
      await tx.run(`UPDATE workspaces SET pending_plan = NULL WHERE id = ?`, [input.workspaceId]);
      await writeAudit(
        tx,
        {
          actor: input.actor,
          action: 'workspace.plan.cancel_pending',
          target: `workspace:${input.workspaceId}`,
          workspaceId: input.workspaceId,
          before: { pendingPlan: row.p },
          after: { pendingPlan: null },
        },
        input.now,
      );
      return row.p;
    });
  }

  async pendingPlan(workspaceId: string): Promise<string | null> {
    const row = await this.driver.read.get<{ p: string | null }>(
      `SELECT pending_plan AS "p" FROM workspaces WHERE id = ?`,
      [workspaceId],
    );
    return row?.p ?? null;
  }

  /** Apply a pending downgrade (at a reset): once, only if it is still pending. */
  applyPendingPlan(input: { workspaceId: string; now: number }): Promise<string | null> {
    return this.driver.write(async (tx) => {
      const row = await tx.get<{ p: string | null }>(
        `SELECT pending_plan AS "p" FROM workspaces WHERE id = ? ${this.driver.lockRows}`,
        [input.workspaceId],
      );
      if (!row?.p) return null;
      // The features of the plan applied, as stored now.
      const plan = await tx.get<{ features: string }>(`SELECT features FROM plans WHERE id = ?`, [
        row.p,
      ]);
      await tx.run(
        `UPDATE workspaces SET plan = ?, features = ?, pending_plan = NULL WHERE id = ?`,
        [row.p, plan?.features ?? '[]', input.workspaceId],
      );
      await writeAudit(
        tx,
        {
          actor: 'system:cycle',
          action: 'workspace.plan.apply_pending',
          target: `workspace:${input.workspaceId}`,
          workspaceId: input.workspaceId,
          after: { plan: row.p },
        },
        input.now,
      );
      return row.p;
    });
  }

  /** The latest cycle a workspace's AI Token allowance was granted for (its key), if any. */
  async lastAllowanceCycle(workspaceId: string): Promise<string | null> {
    const row = await this.driver.read.get<{ k: string | null }>(
      `SELECT MAX(cycle_key) AS "k" FROM lots WHERE workspace_id = ? AND wallet = 'ai_tokens' AND source = 'plan_allowance' AND cycle_key NOT LIKE '%+%'`,
      [workspaceId],
    );
    return row?.k ?? null;
  }

  /** Allowance granted and tokens spent in the AI wallet since `since`. */
  async cycleUsage(input: {
    workspaceId: string;
    cycleKey: string;
    since: number;
  }): Promise<{ planLimit: number; usedThisCycle: number }> {
    const [granted, spent] = await Promise.all([
      this.driver.read.get<{ n: number | null }>(
        `SELECT SUM(granted) AS n FROM lots WHERE workspace_id = ? AND wallet = 'ai_tokens' AND source = 'plan_allowance'
           AND (cycle_key = ? OR cycle_key LIKE ?)`,
        [input.workspaceId, input.cycleKey, `${input.cycleKey}+%`],
      ),
      this.driver.read.get<{ n: number | null }>(
        `SELECT SUM(-amount) AS n FROM ledger_entries WHERE workspace_id = ? AND wallet = 'ai_tokens' AND type = 'spend' AND created_at >= ?`,
        [input.workspaceId, input.since],
      ),
    ]);
    return { planLimit: Number(granted?.n ?? 0), usedThisCycle: Number(spent?.n ?? 0) };
  }

  /** Spend entries in a window, for charts. */
  async spendEntries(input: {
    workspaceId: string;
    wallet?: WalletKind;
    from: number;
    to: number;
  }): Promise<{ wallet: WalletKind; amount: number; createdAt: number }[]> {
    const rows = await this.driver.read.all<{
      wallet: WalletKind;
      amount: number;
      createdAt: number;
    }>(
      `SELECT wallet, -amount AS "amount", created_at AS "createdAt" FROM ledger_entries
       WHERE workspace_id = ? AND type = 'spend' AND created_at >= ? AND created_at < ? ${input.wallet ? 'AND wallet = ?' : ''}
       ORDER BY id LIMIT 200000`,
      input.wallet
        ? [input.workspaceId, input.from, input.to, input.wallet]
        : [input.workspaceId, input.from, input.to],
    );
    return rows.map((r) => ({
      wallet: r.wallet,
      amount: Number(r.amount),
      createdAt: Number(r.createdAt),
    }));
  }
}

/** What a plan change did. */
export interface PlanChange {
  plan: string;
  pendingPlan: string | null;
  effective: 'now' | 'next_reset';
  toppedUp: number;
}

/**
 * The one plan change, inside a caller's transaction: an admin's change and an owner's
 * (through {@link CycleStore.changePlan}) and a paid plan order (the payment webhook) all
 * come here. A downgrade (a smaller allowance) is stored as pending and waits for the next
 * reset; anything else applies now, and the AI Tokens allowance rises at once to the new limit
 * less what was used this cycle (spent or held) — a top-up lot expiring with the cycle.
 * Audited as `workspace.plan.set`. The cycle's own allowance must have been granted first.
 */
export async function changePlanIn(
  deps: { tx: TxExecutor; lockRows: string; ledger: LedgerTx },
  input: {
    workspaceId: string;
    plan: Plan;
    downgrade: boolean;
    cycle: { key: string; start: number; end: number };
    actor: string;
    reason: string;
    now: number;
  },
): Promise<PlanChange> {
  const { tx } = deps;
  const before = await tx.get<{ plan: string; pendingPlan: string | null }>(
    `SELECT plan, pending_plan AS "pendingPlan" FROM workspaces WHERE id = ? ${deps.lockRows}`,
    [input.workspaceId],
  );
  if (!before)
    throw new CreditsError('WORKSPACE_NOT_FOUND', 'No such workspace.', {
      workspaceId: input.workspaceId,
    });
  const audit = (after: unknown) =>
    writeAudit(
      tx,
      {
        actor: input.actor,
        action: 'workspace.plan.set',
        target: `workspace:${input.workspaceId}`,
        workspaceId: input.workspaceId,
        reason: input.reason,
        before,
        after,
      },
      input.now,
    );
  if (input.downgrade) {
    await tx.run(`UPDATE workspaces SET pending_plan = ? WHERE id = ?`, [
      input.plan.id,
      input.workspaceId,
    ]);
    const answer = {
      plan: before.plan,
      pendingPlan: input.plan.id,
      effective: 'next_reset' as const,
      toppedUp: 0,
    };
    await audit(answer);
    return answer;
  }
  await tx.run(`UPDATE workspaces SET plan = ?, features = ?, pending_plan = NULL WHERE id = ?`, [
    input.plan.id,
    JSON.stringify(input.plan.features),
    input.workspaceId,
  ]);
  const w = await deps.ledger.openWallet(input.workspaceId, 'ai_tokens');
  const used = await tx.get<{ n: number | null }>(
    `SELECT SUM(-amount) AS n FROM ledger_entries WHERE workspace_id = ? AND wallet = 'ai_tokens' AND type = 'spend' AND created_at >= ?`,
    [input.workspaceId, input.cycle.start],
  );
  const left = await tx.get<{ n: number | null }>(
    `SELECT SUM(remaining) AS n FROM lots WHERE workspace_id = ? AND wallet = 'ai_tokens' AND source = 'plan_allowance'
       AND expired_at IS NULL AND expires_at > ? AND (cycle_key = ? OR cycle_key LIKE ?)`,
    [input.workspaceId, input.now, input.cycle.key, `${input.cycle.key}+%`],
  );
  // Held tokens are in use: they count as used, so an upgrade never hands them out twice.
  const topUp = Math.max(
    0,
    input.plan.aiTokensPerCycle - Number(used?.n ?? 0) - w.held - Number(left?.n ?? 0),
  );
  if (topUp > 0) {
    const lotId = `lot_${randomUUID().replaceAll('-', '')}`;
    await tx.run(
      `INSERT INTO lots (id, workspace_id, wallet, source, granted, remaining, expires_at, cycle_key, created_at)
       VALUES (?, ?, 'ai_tokens', 'plan_allowance', ?, ?, ?, ?, ?)`,
      [
        lotId,
        input.workspaceId,
        topUp,
        topUp,
        input.cycle.end,
        `${input.cycle.key}+${lotId}`,
        input.now,
      ],
    );
    await w.entry({
      type: 'grant',
      amount: topUp,
      availableDelta: topUp,
      heldDelta: 0,
      actor: input.actor,
      description: `Upgrade to ${input.plan.name}: AI Tokens for the rest of this cycle`,
      lots: [{ lotId, amount: topUp }],
      now: input.now,
    });
    await w.save(input.now);
  }
  const answer = {
    plan: input.plan.id,
    pendingPlan: null,
    effective: 'now' as const,
    toppedUp: topUp,
  };
  await audit(answer);
  return answer;
}
