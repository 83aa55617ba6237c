import {
  CreditsError,
  actionWhenShort,
  allocate,
  assertCredits,
  type Allocation,
  type JobStatus,
  type LotState,
} from '@credits/domain';
import { admitSpend } from '../controls/enforce.js';
import type { RowGroup, TxExecutor } from '../executor.js';
import { newId } from '../ids.js';
import type { LedgerTx, WalletMove, WalletRead } from '../ledger-tx.js';
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

/** Which lots may pay a spend (see {@link spendFromLots}). */
export type SpendFrom =
  /** The lots a job may use (its restrictions), in spend order (SPEC 3). */
  | { restrictions: string[] }
  /** Every live lot, whatever its restriction, in spend order (a manual adjustment). */
  | { anyLot: true }
  /** One lot, for exactly the credits asked (an order's refund takes what is left of its lot). */
  | { lotId: string };

/**
 * The one way credits leave a wallet's lots: usage (reserve, charge), the refund of an order
 * and a negative adjustment all spend through here. It plans which lots pay — spend order
 * among the lots allowed, once the lots past their time are expired — refuses the whole with
 * INSUFFICIENT_CREDITS when they cannot, and takes each part out of its lot (a checked
 * decrement: the lot's CHECK refuses a draw larger than what is left). The caller writes the
 * entry that says why the credits left.
 *
 * @example
 * const w = await ltx.openWallet(workspaceId, wallet);
 * const paid = await spendFromLots(ltx, w, { credits: 40, from: { anyLot: true }, now, actor });
 */
export async function spendFromLots(
  ltx: LedgerTx,
  w: WalletMove,
  input: {
    credits: number;
    from: SpendFrom;
    now: number;
    actor: string;
    /** The wallet's live lots when already read (and expired) by the caller. */
    live?: LotState[];
    /** What the refusal says (default: not enough credits for this job). */
    refusal?: string;
  },
): Promise<Allocation[]> {
  assertCredits(input.credits);
  let allocations: Allocation[];
  if ('lotId' in input.from) {
    allocations = [{ lotId: input.from.lotId, amount: input.credits }];
  } else {
    const lots = input.live ?? (await ltx.liveLots(w, input.now, input.actor));
    const restrictions =
      'anyLot' in input.from
        ? [...new Set(lots.map((l) => l.restriction).filter((r): r is string => r !== null))]
        : input.from.restrictions;
    const plan = allocate({ lots, amount: input.credits, ctx: { now: input.now, restrictions } });
    if (!plan.ok) {
      throw new CreditsError(
        'INSUFFICIENT_CREDITS',
        input.refusal ?? 'Not enough credits for this job.',
        {
          wallet: w.wallet,
          needed: plan.needed,
          available: plan.available,
          balance: w.available,
          action: actionWhenShort(w.wallet),
        },
      );
    }
    allocations = plan.allocations;
  }
  await ltx.drawLots(allocations);
  return allocations;
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
  const allocations = await spendFromLots(ltx, w, {
    credits: input.priced.credits,
    from: { restrictions: input.priced.restrictions },
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
