import {
  CreditsError,
  assertCredits,
  returnOrder,
  type Allocation,
  type JobStatus,
  type LotState,
  type WalletKind,
} from '@credits/domain';
import { admitSpend, settleSpend } from '../controls/enforce.js';
import type { RowGroup, TxExecutor } from '../executor.js';
import { newId } from '../ids.js';
import type { WalletRead } from '../ledger-tx.js';
import type {
  CaptureInput,
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
    },
    async (tx, read) => {
      const { w, allocations, remember } = await draw(m, tx, input, read);
      // Spending limits (controls/enforce.ts): refuse, or count the hold, wallet locked.
      await admitSpend(tx, { ...input, ...limitJob(priced), kind: 'hold' });
      const holdId = newId('hold');
      const expiresAt = input.now + input.ttlMs;
      // The hold: its job row, and which lots it drew from (read when it settles).
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
  return m.idempotent<SettleResult, HoldRow[]>(
    {
      scope: input.workspaceId,
      key: input.idempotencyKey,
      operation: 'capture',
      requestHash: input.requestHash,
      now: input.now,
    },
    async (tx, read) => {
      const hold = openHold(await read!, input.holdId, input.now);
      const credits = input.credits ?? hold.held;
      assertCredits(credits);
      if (credits > hold.held) {
        throw new CreditsError(
          'CAPTURE_EXCEEDS_HOLD',
          'A capture cannot take more than the hold.',
          {
            holdId: hold.id,
            held: hold.held,
            requested: credits,
          },
        );
      }
      return settle(m, tx, hold, {
        status: 'completed',
        captured: credits,
        now: input.now,
        actor: input.actor,
      });
    },
    (tx) => readHold(m, tx, input.workspaceId, input.holdId),
  );
}

export function release(m: MoneyContext, input: ReleaseInput): Promise<SettleResult> {
  return m.idempotent<SettleResult, HoldRow[]>(
    {
      scope: input.workspaceId,
      key: input.idempotencyKey,
      operation: 'release',
      requestHash: input.requestHash,
      now: input.now,
    },
    async (tx, read) => {
      const hold = openHold(await read!, input.holdId, input.now);
      return settle(m, tx, hold, {
        status: 'failed',
        captured: 0,
        now: input.now,
        actor: input.actor,
      });
    },
    (tx) => readHold(m, tx, input.workspaceId, input.holdId),
  );
}

/**
 * A hold with the lots it drew from, in the order it drew them, each lot as it is now: one
 * row per lot (one row with no lot for a hold that drew none). The job's row is locked
 * (PostgreSQL): a settlement racing this one waits, then finds it settled. A hold's lots are
 * written with the commit that answers its reserve, so whoever names a hold finds them.
 */
const holdSql = (lockRows: string) =>
  `SELECT j.id, j.workspace_id AS "workspaceId", j.wallet, j.status, j.held,
    j.expires_at AS "expiresAt", j.rule_version AS "ruleVersion", j.actor,
    h.lot_id AS "lotId", h.amount, l.source, l.expires_at AS "lotExpiresAt",
    l.expired_at AS "lotExpiredAt", l.restriction, l.created_at AS "lotCreatedAt"
  FROM (SELECT * FROM jobs WHERE id = ? AND workspace_id = ? ${lockRows}) j
  LEFT JOIN hold_lots h ON h.job_id = j.id LEFT JOIN lots l ON l.id = h.lot_id
  ORDER BY h.position`;

interface HoldRow {
  id: string;
  workspaceId: string;
  wallet: WalletKind;
  status: JobStatus;
  held: number;
  expiresAt: number | null;
  ruleVersion: number | null;
  actor: string;
  lotId: string | null;
  amount: number | null;
  source: LotState['source'];
  lotExpiresAt: number | null;
  lotExpiredAt: number | null;
  restriction: string | null;
  lotCreatedAt: number;
}

/**
 * What settling needs of a hold: the job (`actor`: who reserved it, whose spend counters move
 * when it settles), what it drew and from which lots.
 */
interface Hold extends Pick<
  HoldRow,
  'id' | 'workspaceId' | 'wallet' | 'status' | 'held' | 'expiresAt' | 'ruleVersion' | 'actor'
> {
  drawn: Allocation[];
  /** The lots drawn from, as read. */
  lots: Map<string, LotState>;
  /** Those of them closed (expired, or their order refunded) when read. */
  closed: Set<string>;
}

function readHold(
  m: MoneyContext,
  tx: TxExecutor,
  workspaceId: string,
  holdId: string,
): Promise<HoldRow[]> {
  return tx.all<HoldRow>(holdSql(m.driver.lockRows), [holdId, workspaceId]);
}

function toHold(rows: HoldRow[]): Hold | null {
  const [r] = rows;
  if (!r) return null;
  const parts = rows.filter((x) => x.lotId !== null);
  return {
    id: r.id,
    workspaceId: r.workspaceId,
    wallet: r.wallet,
    status: r.status,
    held: Number(r.held),
    expiresAt: r.expiresAt === null ? null : Number(r.expiresAt),
    ruleVersion: r.ruleVersion === null ? null : Number(r.ruleVersion),
    actor: r.actor,
    drawn: parts.map((x) => ({ lotId: x.lotId!, amount: Number(x.amount) })),
    lots: new Map(
      parts.map((x) => [
        x.lotId!,
        {
          id: x.lotId!,
          source: x.source,
          remaining: 0,
          expiresAt: x.lotExpiresAt === null ? null : Number(x.lotExpiresAt),
          restriction: x.restriction,
          createdAt: Number(x.lotCreatedAt),
        },
      ]),
    ),
    closed: new Set(parts.filter((x) => x.lotExpiredAt !== null).map((x) => x.lotId!)),
  };
}

/** The hold, checked to be open at `now`. */
function openHold(rows: HoldRow[], holdId: string, now: number): Hold {
  const hold = toHold(rows);
  if (!hold || hold.expiresAt === null) {
    throw new CreditsError('HOLD_NOT_FOUND', 'No such hold in this workspace.', { holdId });
  }
  if (hold.status !== 'reserved') {
    throw new CreditsError('HOLD_SETTLED', `This hold is already ${hold.status}.`, {
      holdId,
      status: hold.status,
    });
  }
  if (hold.expiresAt <= now) {
    throw new CreditsError('HOLD_SETTLED', 'This hold expired; its credits are being returned.', {
      holdId,
      status: 'expired',
    });
  }
  return hold;
}

/**
 * Settle a hold once (SPEC 6): capture what the job used, return the rest to the lots it came
 * from, last drawn first. A returned part whose lot is no longer live — expired, closed by a
 * refund, or past its time at `now` — expires instead, so no credit goes back into a dead lot.
 * The hold and its lots are decided on as read; the writes check both again (the job still
 * reserved, each lot still live), and a check that fails means another write got there
 * first: the operation runs again from the start and decides on what it finds then.
 */
export async function settle(
  m: MoneyContext,
  tx: TxExecutor,
  hold: Hold,
  s: { status: Exclude<JobStatus, 'reserved'>; captured: number; now: number; actor: string },
): Promise<SettleResult> {
  const ltx = m.ltx(tx);
  const { w, rows } = await ltx.readWalletAndLots(hold.workspaceId, hold.wallet);
  const total = hold.drawn.reduce((sum, a) => sum + a.amount, 0);
  if (total !== hold.held)
    throw new Error(`ledger bug: hold ${hold.id} allocations ${total} ≠ ${hold.held}`);

  const back = returnOrder({ allocations: hold.drawn, amount: hold.held - s.captured });
  const backBy = new Map(back.map((a) => [a.lotId, a.amount]));
  const spent = hold.drawn
    .map((a) => ({ lotId: a.lotId, amount: a.amount - (backBy.get(a.lotId) ?? 0) }))
    .filter((a) => a.amount > 0);
  const isLive = (lotId: string) => {
    const expiresAt = hold.lots.get(lotId)!.expiresAt;
    return !hold.closed.has(lotId) && (expiresAt === null || expiresAt > s.now);
  };
  const returned = back.filter((a) => isLive(a.lotId));
  const expired = back.filter((a) => !isLive(a.lotId));

  // Once: the update matches only a reserved job.
  tx.write(
    `UPDATE jobs SET status = ?, captured = ?, settled_at = ? WHERE id = ? AND status = 'reserved'`,
    [s.status, s.captured, s.now, hold.id],
    1,
  );
  await settleSpend(tx, { ...hold, captured: s.captured, now: s.now });
  for (const a of returned) {
    tx.write(
      `UPDATE lots SET remaining = remaining + ?
       WHERE id = ? AND expired_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`,
      [a.amount, a.lotId, s.now],
      1,
    );
  }
  const sum = (xs: Allocation[]) => xs.reduce((t, a) => t + a.amount, 0);
  const ruleVersion = hold.ruleVersion;

  if (s.captured > 0) {
    await w.entry({
      type: 'spend',
      amount: -s.captured,
      availableDelta: 0,
      heldDelta: -s.captured,
      jobId: hold.id,
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
      jobId: hold.id,
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
      jobId: hold.id,
      ruleVersion,
      actor: s.actor,
      description: 'Returned credits whose lot had expired',
      lots: expired.map((a) => ({ lotId: a.lotId, amount: -a.amount })),
      now: s.now,
    });
  }
  const after = await w.save(s.now);
  ltx.rememberReturned(
    w,
    rows,
    returned.map((a) => ({ ...hold.lots.get(a.lotId)!, remaining: a.amount })),
  );
  return {
    holdId: hold.id,
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
          const hold = toHold(await readHold(m, tx, d.workspaceId, d.id));
          if (!hold || hold.status !== 'reserved') return 0;
          await settle(m, tx, hold, {
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
