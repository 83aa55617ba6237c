import { CreditsError, type Allocation, type WalletKind } from '@credits/domain';
import type { Executor } from './executor.js';
import type { ActorSpend } from './controls/types.js';
import type {
  HistoryQuery,
  JobRecord,
  JobsQuery,
  LedgerEntry,
  Lot,
  Page,
  WalletBalance,
} from './types.js';

/**
 * Reads and history: balances, lots, jobs and ledger entries over committed state, pages
 * with opaque cursors. Nothing here writes.
 */

export const LOT_COLUMNS = `id, workspace_id AS "workspaceId", wallet, source, granted, remaining,
  expires_at AS "expiresAt", restriction, order_id AS "orderId", cycle_key AS "cycleKey",
  created_at AS "createdAt", expired_at AS "expiredAt"`;

export const JOB_COLUMNS = `id, workspace_id AS "workspaceId", wallet, kind, job, status, held, captured,
  rule_version AS "ruleVersion", breakdown, trial_applies AS "trialApplies", actor,
  created_at AS "createdAt", expires_at AS "expiresAt", settled_at AS "settledAt"`;

export const ENTRY_COLUMNS = `id, workspace_id AS "workspaceId", wallet, type, amount,
  available_delta AS "availableDelta", held_delta AS "heldDelta", balance_after AS "balanceAfter",
  held_after AS "heldAfter", job_id AS "jobId", order_id AS "orderId",
  rule_version AS "ruleVersion", actor, description, lots, created_at AS "createdAt"`;

export type JobRow = Omit<JobRecord, 'job' | 'breakdown' | 'trialApplies'> & {
  job: string;
  breakdown: string;
  trialApplies: number;
};
type EntryRow = Omit<LedgerEntry, 'lots'> & { lots: string };

export function toJob(r: JobRow): JobRecord {
  return {
    ...r,
    job: JSON.parse(r.job),
    breakdown: JSON.parse(r.breakdown),
    trialApplies: Boolean(r.trialApplies),
  };
}

function toEntry(r: EntryRow): LedgerEntry {
  return { ...r, lots: JSON.parse(r.lots) as Allocation[] };
}

function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

function decodeCursor(cursor: string, shape: ('string' | 'number')[]): (string | number)[] {
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(parts) &&
      parts.length === shape.length &&
      // Numbers we issue are ids and epoch ms: whole, non-negative, safe. Anything else (1.5,
      // 1e30, 1e400 → Infinity) is not ours, and PostgreSQL would fail on it as a bigint.
      parts.every(
        (p, i) =>
          typeof p === shape[i] && (typeof p !== 'number' || (Number.isSafeInteger(p) && p >= 0)),
      )
    ) {
      return parts as (string | number)[];
    }
  } catch {
    // fall through to the validation error below
  }
  throw new CreditsError('VALIDATION', 'The cursor is not one this server issued.', {
    field: 'cursor',
  });
}

export function normaliseJob(j: JobRecord): JobRecord {
  return {
    ...j,
    held: Number(j.held),
    captured: j.captured === null ? null : Number(j.captured),
    ruleVersion: j.ruleVersion === null ? null : Number(j.ruleVersion),
    createdAt: Number(j.createdAt),
    expiresAt: j.expiresAt === null ? null : Number(j.expiresAt),
    settledAt: j.settledAt === null ? null : Number(j.settledAt),
  };
}

function normaliseEntry(e: LedgerEntry): LedgerEntry {
  return {
    ...e,
    id: Number(e.id),
    amount: Number(e.amount),
    availableDelta: Number(e.availableDelta),
    heldDelta: Number(e.heldDelta),
    balanceAfter: Number(e.balanceAfter),
    heldAfter: Number(e.heldAfter),
    ruleVersion: e.ruleVersion === null ? null : Number(e.ruleVersion),
    createdAt: Number(e.createdAt),
  };
}

export async function wallets(read: Executor, workspaceId: string): Promise<WalletBalance[]> {
  const rows = await read.all<WalletBalance>(
    `SELECT kind, available, held FROM wallets WHERE workspace_id = ?`,
    [workspaceId],
  );
  return rows.map((r) => ({
    kind: r.kind,
    available: Number(r.available),
    held: Number(r.held),
  }));
}

export async function lots(
  read: Executor,
  input: { workspaceId: string; wallet?: WalletKind },
): Promise<Lot[]> {
  const params: unknown[] = [input.workspaceId];
  let where = 'workspace_id = ?';
  if (input.wallet) {
    where += ' AND wallet = ?';
    params.push(input.wallet);
  }
  const rows = await read.all<Lot>(
    `SELECT ${LOT_COLUMNS} FROM lots WHERE ${where} ORDER BY created_at, id`,
    params,
  );
  return rows.map((r) => ({
    ...r,
    granted: Number(r.granted),
    remaining: Number(r.remaining),
    expiresAt: r.expiresAt === null ? null : Number(r.expiresAt),
    createdAt: Number(r.createdAt),
    expiredAt: r.expiredAt === null ? null : Number(r.expiredAt),
  }));
}

export async function hasDueLots(
  read: Executor,
  input: { workspaceId: string; now: number },
): Promise<boolean> {
  const row = await read.get(
    `SELECT id FROM lots WHERE workspace_id = ? AND expires_at <= ? AND expired_at IS NULL AND remaining > 0 LIMIT 1`,
    [input.workspaceId, input.now],
  );
  return row !== undefined;
}

export async function getJob(
  read: Executor,
  input: { workspaceId: string; jobId: string },
): Promise<JobRecord | null> {
  const row = await read.get<JobRow>(
    `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ? AND workspace_id = ?`,
    [input.jobId, input.workspaceId],
  );
  return row ? normaliseJob(toJob(row)) : null;
}

/** {@link ENTRY_COLUMNS} of `ledger_entries le`, for reads that join its job. */
const LE_COLUMNS = ENTRY_COLUMNS.split(',')
  .map((c) => `le.${c.trim()}`)
  .join(', ');

/**
 * Who an entry belongs to: for an entry of a job, the actor who reserved or charged the job
 * (as spending limits count it), whoever captured, released or refunded it; for any other
 * entry (grants, purchases, adjustments), its own actor. Over `ledger_entries le` joined to
 * {@link ENTRY_JOB}.
 */
const ENTRY_ACTOR = `COALESCE(j.actor, le.actor)`;
const ENTRY_JOB = `LEFT JOIN jobs j ON j.id = le.job_id AND j.workspace_id = le.workspace_id`;

/** The entries a job's settlement writes, which the history folds into one line per job. */
const JOB_STEPS = `('hold', 'spend', 'return')`;

/** The history's filters (but the actor and the cursor) on the entries aliased `alias`. */
function entryFilters(alias: string, q: HistoryQuery): { where: string[]; params: unknown[] } {
  const where = [`${alias}.workspace_id = ?`];
  const params: unknown[] = [q.workspaceId];
  if (q.wallet) {
    where.push(`${alias}.wallet = ?`);
    params.push(q.wallet);
  }
  if (q.types && q.types.length > 0) {
    where.push(`${alias}.type IN (${q.types.map(() => '?').join(', ')})`);
    params.push(...q.types);
  }
  if (q.from !== undefined) {
    where.push(`${alias}.created_at >= ?`);
    params.push(q.from);
  }
  if (q.to !== undefined) {
    where.push(`${alias}.created_at < ?`);
    params.push(q.to);
  }
  return { where, params };
}

export async function history(read: Executor, q: HistoryQuery): Promise<Page<LedgerEntry>> {
  const { where, params } = entryFilters('le', q);
  if (q.actor !== undefined) {
    where.push(`${ENTRY_ACTOR} = ?`);
    params.push(q.actor);
  }
  if (q.cursor) {
    const [id] = decodeCursor(q.cursor, ['number']);
    where.push('le.id < ?');
    params.push(id);
    if (q.foldJobs) {
      // A job already shown on a newer page (one of its steps at or after the cursor, under
      // the same filters) is not shown again: its older steps came with it. The actor of a
      // job's steps is the job's, so the actor filter needs no repeating here.
      const inner = entryFilters('e2', q);
      where.push(
        `NOT (le.job_id IS NOT NULL AND le.type IN ${JOB_STEPS} AND EXISTS (
           SELECT 1 FROM ledger_entries e2
            WHERE ${inner.where.join(' AND ')} AND e2.job_id = le.job_id
              AND e2.type IN ${JOB_STEPS} AND e2.id >= ?))`,
      );
      params.push(...inner.params, id);
    }
  }
  params.push(q.limit + 1);
  // The job is joined only for the actor filter: other pages read entries alone.
  const rows = await read.all<EntryRow>(
    `SELECT ${LE_COLUMNS} FROM ledger_entries le ${q.actor !== undefined ? ENTRY_JOB : ''}
     WHERE ${where.join(' AND ')} ORDER BY le.id DESC LIMIT ?`,
    params,
  );
  const items = rows.slice(0, q.limit).map((r) => normaliseEntry(toEntry(r)));
  const last = items[items.length - 1];
  const more = rows.length > q.limit && last !== undefined;
  if (q.foldJobs && more) {
    // The older steps of the jobs on this page join it (a job reads as one line, never split
    // across pages); the next page leaves those jobs out.
    const jobIds = [
      ...new Set(
        items
          .filter((e) => e.jobId && ['hold', 'spend', 'return'].includes(e.type))
          .map((e) => e.jobId!),
      ),
    ];
    if (jobIds.length > 0) {
      const f = entryFilters('le', q);
      const older = await read.all<EntryRow>(
        `SELECT ${LE_COLUMNS} FROM ledger_entries le
          WHERE ${f.where.join(' AND ')} AND le.job_id IN (${jobIds.map(() => '?').join(', ')})
            AND le.type IN ${JOB_STEPS} AND le.id < ?
          ORDER BY le.id DESC`,
        [...f.params, ...jobIds, last.id],
      );
      items.push(...older.map((r) => normaliseEntry(toEntry(r))));
      items.sort((a, b) => b.id - a.id);
    }
  }
  return { items, nextCursor: more ? encodeCursor([last.id]) : null };
}

export async function jobs(read: Executor, q: JobsQuery): Promise<Page<JobRecord>> {
  const where = ['workspace_id = ?'];
  const params: unknown[] = [q.workspaceId];
  if (q.wallet) {
    where.push('wallet = ?');
    params.push(q.wallet);
  }
  if (q.status) {
    where.push('status = ?');
    params.push(q.status);
  }
  if (q.cursor) {
    const [at, id] = decodeCursor(q.cursor, ['number', 'string']);
    where.push('(created_at < ? OR (created_at = ? AND id < ?))');
    params.push(at, at, id);
  }
  params.push(q.limit + 1);
  const rows = await read.all<JobRow>(
    `SELECT ${JOB_COLUMNS} FROM jobs WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`,
    params,
  );
  const items = rows.slice(0, q.limit).map((r) => normaliseJob(toJob(r)));
  const last = items[items.length - 1];
  return {
    items,
    nextCursor: rows.length > q.limit && last ? encodeCursor([last.createdAt, last.id]) : null,
  };
}

export async function recentJobs(
  read: Executor,
  input: {
    since: number;
    limit: number;
  },
): Promise<(JobRecord & { plan: string; features: string[] })[]> {
  const rows = await read.all<JobRow & { plan: string; features: string }>(
    `SELECT j.id, j.workspace_id AS "workspaceId", j.wallet, j.kind, j.job, j.status, j.held, j.captured,
      j.rule_version AS "ruleVersion", j.breakdown, j.trial_applies AS "trialApplies", j.actor,
      j.created_at AS "createdAt", j.expires_at AS "expiresAt", j.settled_at AS "settledAt",
      w.plan, w.features AS "features"
     FROM jobs j JOIN workspaces w ON w.id = j.workspace_id
     WHERE j.created_at >= ? ORDER BY j.created_at DESC, j.id DESC LIMIT ?`,
    [input.since, input.limit],
  );
  return rows.map((r) => ({
    ...normaliseJob(toJob(r)),
    plan: r.plan,
    features: JSON.parse(r.features) as string[],
  }));
}

/**
 * Spend entries in `[from, to)`, oldest first, each with the actor who reserved or charged
 * its job: the rows "who spent what" sums (usage.summary by member or key). At most 200,000.
 */
export async function spendByActor(
  read: Executor,
  q: { workspaceId: string; wallet?: WalletKind; from: number; to: number; actor?: string },
): Promise<ActorSpend[]> {
  const where = [
    `le.workspace_id = ?`,
    `le.type = 'spend'`,
    `le.created_at >= ?`,
    `le.created_at < ?`,
  ];
  const params: unknown[] = [q.workspaceId, q.from, q.to];
  if (q.wallet) {
    where.push('le.wallet = ?');
    params.push(q.wallet);
  }
  if (q.actor !== undefined) {
    where.push(`${ENTRY_ACTOR} = ?`);
    params.push(q.actor);
  }
  const rows = await read.all<ActorSpend>(
    `SELECT le.wallet, -le.amount AS "amount", le.created_at AS "createdAt", ${ENTRY_ACTOR} AS actor
     FROM ledger_entries le ${ENTRY_JOB} WHERE ${where.join(' AND ')} ORDER BY le.id LIMIT 200000`,
    params,
  );
  return rows.map((r) => ({
    wallet: r.wallet,
    amount: Number(r.amount),
    createdAt: Number(r.createdAt),
    actor: r.actor,
  }));
}
