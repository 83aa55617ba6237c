import { CreditsError, returnOrder, type Allocation, type WalletKind } from '@credits/domain';
import type { TxExecutor } from '../executor.js';
import { LOT_REMAINING, type LedgerTx } from '../ledger-tx.js';
import { refundSpend } from './enforce.js';

/** Refund part or all of a finished job (SPEC 15). */
export interface RefundJobInput {
  workspaceId: string;
  jobId: string;
  /** Credits to give back; omitted: all that is still refundable. */
  credits?: number;
  reason: string;
  actor: string;
  now: number;
  idempotencyKey: string;
  requestHash: string;
}

export interface RefundJobResult {
  jobId: string;
  wallet: WalletKind;
  /** Credits this refund gave back (returned + expired). */
  refunded: number;
  /** Of those, back in lots still live (available again). */
  returned: number;
  /** Of those, owed to lots that expired (or were refunded) meanwhile: expired at once. */
  expired: number;
  /** What the job cost, and what has been refunded of it in total, this refund included. */
  cost: number;
  totalRefunded: number;
  balance: number;
}

/**
 * The body of `refundJob`, inside the store's idempotent write (its own run, never pipelined,
 * after appended rows are written: it reads the job's ledger entries). The wallet row is
 * locked first, then the job is read; the job's `refunded` moves by a conditional UPDATE that
 * matches only while `refunded + credits <= captured`, so concurrent refunds can never add up
 * to more than the job cost. Credits go back to the lots that paid, last drawn first, less
 * what earlier refunds gave each; a lot that expired (or was refunded) since gets its part
 * expired at once, recorded.
 */
export async function refundJobBody(
  tx: TxExecutor,
  ltx: LedgerTx,
  input: RefundJobInput,
): Promise<RefundJobResult> {
  const peek = await tx.get<{ wallet: WalletKind }>(
    `SELECT wallet FROM jobs WHERE id = ? AND workspace_id = ?`,
    [input.jobId, input.workspaceId],
  );
  if (!peek)
    throw new CreditsError('NOT_FOUND', 'No such job in this workspace.', { jobId: input.jobId });
  const w = await ltx.openWallet(input.workspaceId, peek.wallet);
  const job = (await tx.get<{
    status: string;
    captured: number | null;
    refunded: number;
    actor: string;
  }>(`SELECT status, captured, refunded, actor FROM jobs WHERE id = ?`, [input.jobId]))!;
  const cost = Number(job.captured ?? 0);
  const before = Number(job.refunded);
  if (job.status !== 'completed' || cost <= 0) {
    throw new CreditsError(
      'JOB_NOT_REFUNDABLE',
      job.status === 'reserved'
        ? 'This job has not finished: release its hold instead.'
        : 'Only a job that was charged (captured or charged) can be refunded.',
      { jobId: input.jobId, status: job.status },
    );
  }
  const refundable = cost - before;
  const credits = input.credits ?? refundable;
  if (credits <= 0 || credits > refundable) {
    throw new CreditsError(
      'REFUND_EXCEEDS_COST',
      `This job cost ${cost}; ${before} already refunded, so at most ${refundable} more.`,
      { jobId: input.jobId, cost, refunded: before, refundable, requested: credits },
    );
  }
  const moved = await tx.run(
    `UPDATE jobs SET refunded = refunded + ? WHERE id = ? AND refunded + ? <= captured`,
    [credits, input.jobId, credits],
  );
  if (moved.changes !== 1)
    throw new CreditsError('REFUND_EXCEEDS_COST', 'Refunds may not exceed what the job cost.', {
      jobId: input.jobId,
      cost,
      refunded: before,
      refundable,
      requested: credits,
    });

  // Which lots paid, less what earlier refunds gave back to each.
  const entries = await tx.all<{ type: string; lots: string }>(
    `SELECT type, lots FROM ledger_entries WHERE job_id = ? AND type IN ('spend', 'refund') ORDER BY id`,
    [input.jobId],
  );
  const paid = new Map<string, number>();
  for (const e of entries) {
    for (const l of JSON.parse(e.lots) as Allocation[]) {
      // A spend's lots are negative (taken), a refund's positive (given back): paid = −Σ.
      paid.set(l.lotId, (paid.get(l.lotId) ?? 0) - Number(l.amount));
    }
  }
  const allocations = [...paid]
    .map(([lotId, amount]) => ({ lotId, amount }))
    .filter((a) => a.amount > 0);
  const back = returnOrder({ allocations, amount: credits });
  const lots = await tx.all<{ id: string; expiresAt: number | null; expiredAt: number | null }>(
    `SELECT id, expires_at AS "expiresAt", expired_at AS "expiredAt" FROM lots WHERE id IN (${back.map(() => '?').join(', ')})`,
    back.map((a) => a.lotId),
  );
  const dead = new Set(
    lots
      .filter(
        (l) => l.expiredAt !== null || (l.expiresAt !== null && Number(l.expiresAt) <= input.now),
      )
      .map((l) => l.id),
  );
  const expired = back.filter((a) => dead.has(a.lotId));
  const returned = back.filter((a) => !dead.has(a.lotId));
  const sum = (xs: Allocation[]) => xs.reduce((t, a) => t + a.amount, 0);
  for (const a of returned) tx.add(LOT_REMAINING, [a.lotId], [a.amount]);
  await w.entry({
    type: 'refund',
    amount: credits,
    availableDelta: credits,
    heldDelta: 0,
    jobId: input.jobId,
    actor: input.actor,
    description: `Refund: ${input.reason}`,
    lots: back,
    now: input.now,
  });
  if (expired.length > 0) {
    await w.entry({
      type: 'expire',
      amount: -sum(expired),
      availableDelta: -sum(expired),
      heldDelta: 0,
      jobId: input.jobId,
      actor: input.actor,
      description: 'Refunded credits whose lot had expired',
      lots: expired.map((a) => ({ lotId: a.lotId, amount: -a.amount })),
      now: input.now,
    });
  }
  const after = await w.save(input.now);
  await refundSpend(tx, {
    workspaceId: input.workspaceId,
    wallet: peek.wallet,
    actor: job.actor,
    credits,
    now: input.now,
  });
  return {
    jobId: input.jobId,
    wallet: peek.wallet,
    refunded: credits,
    returned: sum(returned),
    expired: sum(expired),
    cost,
    totalRefunded: before + credits,
    balance: after.available,
  };
}

/** For `verify` (invariant 8): no job's refunds add up to more than it cost, and `refunded` matches its entries. */
export async function verifyRefunds(
  tx: TxExecutor,
): Promise<{ workspaceId: string; wallet: string; invariant: string; detail: string }[]> {
  const rows = await tx.all<{
    workspaceId: string;
    wallet: string;
    id: string;
    captured: number | null;
    refunded: number;
    entries: number | null;
  }>(
    `SELECT j.workspace_id AS "workspaceId", j.wallet, j.id, j.captured, j.refunded,
       (SELECT SUM(e.amount) FROM ledger_entries e WHERE e.job_id = j.id AND e.type = 'refund') AS entries
     FROM jobs j WHERE j.refunded > 0 OR EXISTS
       (SELECT 1 FROM ledger_entries e WHERE e.job_id = j.id AND e.type = 'refund')`,
  );
  return rows
    .filter(
      (r) =>
        Number(r.refunded) > Number(r.captured ?? 0) ||
        Number(r.refunded) !== Number(r.entries ?? 0),
    )
    .map((r) => ({
      workspaceId: r.workspaceId,
      wallet: r.wallet,
      invariant: '8 refunds within cost',
      detail: `job ${r.id}: cost ${Number(r.captured ?? 0)}, refunded ${Number(r.refunded)}, refund entries ${Number(r.entries ?? 0)}`,
    }));
}
