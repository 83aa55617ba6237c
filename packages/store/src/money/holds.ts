import {
  CreditsError,
  assertCredits,
  returnOrder,
  type Allocation,
  type JobStatus,
} from '@credits/domain';
import { admitSpend, settleSpend } from '../controls/enforce.js';
import type { RowGroup, TxExecutor } from '../executor.js';
import { newId } from '../ids.js';
import type { WalletRead } from '../ledger-tx.js';
import { JOB_COLUMNS, toJob, type JobRow } from '../reads.js';
import type {
  CaptureInput,
  JobRecord,
  ReleaseInput,
  ReserveInput,
  ReserveResult,
  SettleResult,
} from '../types.js';
import type { MoneyContext } from './context.js';
import { JOB_ROWS, draw, jobParams, limitJob } from './spend.js';

/**
 * Holds (SPEC 6): reserve a job's credits, then settle the hold once — capture (spent),
 * release (returned) or expiry (the sweeper) — returning what was not spent to its lots.
 */

/** Which lots a hold drew from, appended (read only when the hold settles, in a later commit). */
const HOLD_LOT_ROWS: RowGroup = {
  head: `INSERT INTO hold_lots (job_id, lot_id, position, amount) VALUES`,
  columns: 4,
};

export function reserve(m: MoneyContext, input: ReserveInput): Promise<ReserveResult> {
  const { priced } = input;
  return m.idempotent<ReserveResult, WalletRead>(
    {
      scope: input.workspaceId,
      key: input.idempotencyKey,
      operation: 'reserve',
      requestHash: input.requestHash,
      now: input.now,
      readsAppended: false,
      pipelined: true,
    },
    async (tx, read) => {
      const { w, allocations, remember } = await draw(m, tx, input, read);
      // Spending limits (controls/enforce.ts): refuse, or count the hold, wallet locked.
      await admitSpend(tx, { ...input, ...limitJob(priced), kind: 'hold' });
      const holdId = newId('hold');
      const expiresAt = input.now + input.ttlMs;
      // The hold's job goes in with the operation; its lots with the batch, after it.
      tx.insert(
        JOB_ROWS,
        jobParams({
          id: holdId,
          input,
          status: 'reserved',
          captured: null,
          expiresAt,
          settledAt: null,
        }),
      );
      allocations.forEach((a, i) => tx.append(HOLD_LOT_ROWS, [holdId, a.lotId, i, a.amount]));
      await w.entry({
        type: 'hold',
        amount: -priced.credits,
        availableDelta: -priced.credits,
        heldDelta: priced.credits,
        jobId: holdId,
        ruleVersion: priced.ruleVersion,
        actor: input.actor,
        description: `Hold for ${priced.description}`,
        lots: allocations.map((a) => ({ lotId: a.lotId, amount: -a.amount })),
        now: input.now,
      });
      const after = await w.save(input.now);
      remember();
      return {
        holdId,
        wallet: priced.wallet,
        credits: priced.credits,
        ruleVersion: priced.ruleVersion,
        trialApplies: priced.trialApplies,
        expiresAt,
        balance: after.available,
        held: after.held,
        lots: allocations,
      };
    },
    (tx) => m.ltx(tx).readWalletAndLots(input.workspaceId, input.priced.wallet),
  );
}

export function capture(m: MoneyContext, input: CaptureInput): Promise<SettleResult> {
  return m.idempotent(
    // readsAppended: false although settling reads the hold's lots, which are appended: a
    // hold's id reaches its caller only after the commit that wrote them (the sweeper reads
    // committed holds too), so no capture or release can meet them unwritten.
    {
      scope: input.workspaceId,
      key: input.idempotencyKey,
      operation: 'capture',
      requestHash: input.requestHash,
      now: input.now,
      readsAppended: false,
    },
    async (tx) => {
      const { job, drawn } = await openHold(tx, input.workspaceId, input.holdId, input.now);
      const credits = input.credits ?? job.held;
      assertCredits(credits);
      if (credits > job.held) {
        throw new CreditsError(
          'CAPTURE_EXCEEDS_HOLD',
          'A capture cannot take more than the hold.',
          {
            holdId: job.id,
            held: job.held,
            requested: credits,
          },
        );
      }
      return settle(
        m,
        tx,
        job,
        { status: 'completed', captured: credits, now: input.now, actor: input.actor },
        drawn,
      );
    },
  );
}

export function release(m: MoneyContext, input: ReleaseInput): Promise<SettleResult> {
  return m.idempotent(
    {
      scope: input.workspaceId,
      key: input.idempotencyKey,
      operation: 'release',
      requestHash: input.requestHash,
      now: input.now,
      readsAppended: false,
    },
    async (tx) => {
      const { job, drawn } = await openHold(tx, input.workspaceId, input.holdId, input.now);
      return settle(
        m,
        tx,
        job,
        { status: 'failed', captured: 0, now: input.now, actor: input.actor },
        drawn,
      );
    },
  );
}

/** Which lots a hold drew from, in the order it drew them. */
async function holdLots(tx: TxExecutor, jobId: string): Promise<Allocation[]> {
  const rows = await tx.all<{ lotId: string; amount: number }>(
    `SELECT lot_id AS "lotId", amount FROM hold_lots WHERE job_id = ? ORDER BY position`,
    [jobId],
  );
  return rows.map((r) => ({ lotId: r.lotId, amount: Number(r.amount) }));
}

/** The hold, checked to be open, and the lots it drew from (read together). */
async function openHold(
  tx: TxExecutor,
  workspaceId: string,
  holdId: string,
  now: number,
): Promise<{ job: JobRecord; drawn: Allocation[] }> {
  const [row, drawn] = await Promise.all([
    tx.get<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ? AND workspace_id = ?`, [
      holdId,
      workspaceId,
    ]),
    holdLots(tx, holdId),
  ]);
  if (!row || row.expiresAt === null) {
    throw new CreditsError('HOLD_NOT_FOUND', 'No such hold in this workspace.', { holdId });
  }
  const job = toJob(row);
  job.held = Number(job.held);
  job.expiresAt = Number(job.expiresAt);
  if (job.status !== 'reserved') {
    throw new CreditsError('HOLD_SETTLED', `This hold is already ${job.status}.`, {
      holdId,
      status: job.status,
    });
  }
  if (job.expiresAt <= now) {
    throw new CreditsError('HOLD_SETTLED', 'This hold expired; its credits are being returned.', {
      holdId,
      status: 'expired',
    });
  }
  return { job, drawn };
}

/**
 * Settle a hold once: the status update matches only a reserved job, so a second
 * settlement (capture, release or expiry racing) finds nothing and fails.
 */
export async function settle(
  m: MoneyContext,
  tx: TxExecutor,
  job: JobRecord,
  s: { status: Exclude<JobStatus, 'reserved'>; captured: number; now: number; actor: string },
  /** The hold's lots, when the caller read them already. */
  drawnRead?: Allocation[],
): Promise<SettleResult> {
  const w = await m.ltx(tx).openWallet(job.workspaceId, job.wallet);
  const drawn = drawnRead ?? (await holdLots(tx, job.id));
  const total = drawn.reduce((sum, a) => sum + a.amount, 0);
  if (total !== job.held)
    throw new Error(`ledger bug: hold ${job.id} allocations ${total} ≠ ${job.held}`);

  const back = returnOrder({ allocations: drawn, amount: job.held - s.captured });
  const backBy = new Map(back.map((a) => [a.lotId, a.amount]));
  const spent = drawn
    .map((a) => ({ lotId: a.lotId, amount: a.amount - (backBy.get(a.lotId) ?? 0) }))
    .filter((a) => a.amount > 0);
  // Whether a returned part goes back to its lot or expires is decided by the lot's row as
  // this write finds it, not by what anyone read before: the update matches only a lot that
  // is still live (not expired by the sweeper or another process, not closed by a refund,
  // which sets expired_at, and not past its time at this write's `now`). A part whose lot
  // is dead expires here, so no credits are ever put back into a dead lot.
  // The hold settles first and once: the update matches only a reserved job (a second
  // settlement, racing, finds nothing and stops here before touching any lot).
  const won = await tx.run(
    `UPDATE jobs SET status = ?, captured = ?, settled_at = ? WHERE id = ? AND status = 'reserved'`,
    [s.status, s.captured, s.now, job.id],
  );
  if (won.changes !== 1) {
    throw new CreditsError('HOLD_SETTLED', 'This hold is already settled.', { holdId: job.id });
  }
  // Then the spend counters and the returns go out together.
  const [, ...landed] = await Promise.all([
    settleSpend(tx, { ...job, captured: s.captured, now: s.now }),
    ...back.map((a) =>
      tx.all<{ id: string }>(
        `UPDATE lots SET remaining = remaining + ?
         WHERE id = ? AND expired_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
         RETURNING id`,
        [a.amount, a.lotId, s.now],
      ),
    ),
  ]);
  const returned: Allocation[] = [];
  const expired: Allocation[] = [];
  back.forEach((a, i) => (landed[i]!.length === 1 ? returned : expired).push(a));
  const sum = (xs: Allocation[]) => xs.reduce((t, a) => t + a.amount, 0);
  const ruleVersion = job.ruleVersion;

  if (s.captured > 0) {
    await w.entry({
      type: 'spend',
      amount: -s.captured,
      availableDelta: 0,
      heldDelta: -s.captured,
      jobId: job.id,
      ruleVersion,
      actor: s.actor,
      description: 'Job completed: held credits spent',
      lots: spent.map((a) => ({ lotId: a.lotId, amount: -a.amount })),
      now: s.now,
    });
  }
  if (returned.length > 0) {
    const reason =
      s.status === 'completed'
        ? 'Unused part of the hold returned'
        : s.status === 'failed'
          ? 'Job failed: credits returned'
          : 'Hold expired: credits returned';
    await w.entry({
      type: 'return',
      amount: sum(returned),
      availableDelta: sum(returned),
      heldDelta: -sum(returned),
      jobId: job.id,
      ruleVersion,
      actor: s.actor,
      description: reason,
      lots: returned,
      now: s.now,
    });
  }
  if (expired.length > 0) {
    await w.entry({
      type: 'expire',
      amount: -sum(expired),
      availableDelta: 0,
      heldDelta: -sum(expired),
      jobId: job.id,
      ruleVersion,
      actor: s.actor,
      description: 'Returned credits whose lot had expired',
      lots: expired.map((a) => ({ lotId: a.lotId, amount: -a.amount })),
      now: s.now,
    });
  }
  const after = await w.save(s.now);
  return {
    holdId: job.id,
    status: s.status,
    captured: s.captured,
    returned: sum(returned),
    expired: sum(expired),
    balance: after.available,
    held: after.held,
  };
}

export async function expireHolds(
  m: MoneyContext,
  input: { now: number; limit?: number },
): Promise<number> {
  const due = await m.driver.read.all<{ id: string; workspaceId: string }>(
    `SELECT id, workspace_id AS "workspaceId" FROM jobs
     WHERE status = 'reserved' AND expires_at <= ? ORDER BY expires_at LIMIT ?`,
    [input.now, input.limit ?? 500],
  );
  const settled = await Promise.all(
    due.map((d) =>
      m.driver
        .write(async (tx) => {
          const row = await tx.get<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`, [d.id]);
          if (!row || row.status !== 'reserved') return 0;
          const job = toJob(row);
          job.held = Number(job.held);
          await settle(m, tx, job, {
            status: 'expired',
            captured: 0,
            now: input.now,
            actor: 'system:sweeper',
          });
          return 1;
        })
        .catch((e: unknown) => {
          if (e instanceof CreditsError && e.reason === 'HOLD_SETTLED') return 0;
          throw e;
        }),
    ),
  );
  return settled.reduce<number>((a, b) => a + b, 0);
}
