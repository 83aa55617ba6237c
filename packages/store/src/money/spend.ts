import type { JobStatus } from '@credits/domain';
import { admitSpend } from '../controls/enforce.js';
import type { RowGroup, TxExecutor } from '../executor.js';
import { newId } from '../ids.js';
import type { WalletRead } from '../ledger-tx.js';
import type { ChargeInput, ChargeResult, PricedJob } from '../types.js';
import type { MoneyContext } from './context.js';

/**
 * Spending (SPEC 3 and 6): a job's credits drawn from the wallet's live lots in spend order, at
 * once (a charge) or into a hold (holds.ts).
 */

/** What the spending limits check of a priced job (see controls/enforce.ts). */
export const limitJob = (p: PricedJob) => ({ wallet: p.wallet, credits: p.credits });

/** A job's row: a charge's (finished when written, appended) or a hold's (inserted). */
export const JOB_ROWS: RowGroup = {
  head: `INSERT INTO jobs (id, workspace_id, wallet, kind, job, status, held, captured, rule_version,
  breakdown, trial_applies, actor, created_at, expires_at, settled_at) VALUES`,
  columns: 15,
};

/** The {@link JOB_ROWS} parameters of a priced job. */
export function jobParams(j: {
  id: string;
  input: { workspaceId: string; priced: PricedJob; actor: string; now: number };
  status: JobStatus;
  captured: number | null;
  expiresAt: number | null;
  settledAt: number | null;
}): unknown[] {
  const p = j.input.priced;
  return [
    j.id,
    j.input.workspaceId,
    p.wallet,
    p.kind,
    JSON.stringify(p.job),
    j.status,
    p.credits,
    j.captured,
    p.ruleVersion,
    JSON.stringify(p.breakdown),
    p.trialApplies ? 1 : 0,
    j.input.actor,
    j.input.now,
    j.expiresAt,
    j.settledAt,
  ];
}

/** Lock the job's wallet, expire what is due, and draw the job's credits in spend order. */
export async function draw(
  m: MoneyContext,
  tx: TxExecutor,
  input: { workspaceId: string; priced: PricedJob; now: number; actor: string },
  read?: Promise<WalletRead>,
) {
  const ltx = m.ltx(tx);
  const { w, lots } = await ltx.openWalletWithLots(
    input.workspaceId,
    input.priced.wallet,
    input.now,
    input.actor,
    read,
  );
  const allocations = await ltx.spendPlan(w, {
    credits: input.priced.credits,
    restrictions: input.priced.restrictions,
    now: input.now,
    actor: input.actor,
    live: lots,
  });
  /** Call once the wallet's entries are written and saved. */
  const remember = () => ltx.remember(w, lots, allocations);
  return { w, allocations, remember };
}

export function charge(m: MoneyContext, input: ChargeInput): Promise<ChargeResult> {
  const { priced } = input;
  return m.idempotent<ChargeResult, WalletRead>(
    {
      scope: input.workspaceId,
      key: input.idempotencyKey,
      operation: 'charge',
      requestHash: input.requestHash,
      now: input.now,
      readsAppended: false,
      pipelined: true,
    },
    async (tx, read) => {
      const { w, allocations, remember } = await draw(m, tx, input, read);
      await admitSpend(tx, { ...input, ...limitJob(priced), kind: 'spend' });
      const jobId = newId('job');
      tx.append(
        JOB_ROWS,
        jobParams({
          id: jobId,
          input,
          status: 'completed',
          captured: priced.credits,
          expiresAt: null,
          settledAt: input.now,
        }),
      );
      await w.entry({
        type: 'spend',
        amount: -priced.credits,
        availableDelta: -priced.credits,
        heldDelta: 0,
        jobId,
        ruleVersion: priced.ruleVersion,
        actor: input.actor,
        description: priced.description,
        lots: allocations.map((a) => ({ lotId: a.lotId, amount: -a.amount })),
        now: input.now,
      });
      const after = await w.save(input.now);
      remember();
      return {
        jobId,
        wallet: priced.wallet,
        credits: priced.credits,
        ruleVersion: priced.ruleVersion,
        balance: after.available,
        lots: allocations,
      };
    },
    (tx) => m.ltx(tx).readWalletAndLots(input.workspaceId, input.priced.wallet),
  );
}
