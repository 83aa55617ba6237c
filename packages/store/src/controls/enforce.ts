import {
  CreditsError,
  DEFAULT_WALLET_CATALOG,
  checkLimits,
  cycleAt,
  type LimitMode,
  type LimitScope,
  type LimitUsage,
  type WalletKind,
} from '@credits/domain';
import type { TxExecutor } from '../executor.js';
import { notify } from './shared.js';

/**
 * Spending limits enforced in the money path (SPEC 15, invariant 9). The ledger calls
 * {@link admitSpend} from reserve and charge once the wallet row is locked, and
 * {@link settleSpend} when a hold settles; both run in the operation's own transaction.
 *
 * While a wallet has any limit, `spend_counters` keeps, per actor, the credits of its open
 * holds (bucket `held`) and the credits it spent in each cycle (bucket = the cycle's key).
 * A check reads those few rows, so it costs the same however many jobs a workspace has, and
 * the counters move in the same transaction as the balances: concurrent jobs cannot overshoot
 * (PostgreSQL: the wallet's row lock orders them; SQLite: one writer). Moving a counter is a
 * write whose outcome the operation waits for, so an adapter that groups operations runs an
 * operation a limit applies to on its own. {@link rebuildCounters} builds
 * them from the jobs when a limit is set, and drops them when the wallet's last one goes.
 */

/** A wallet's limits and the workspace's anchor day (the cycle limits count in). */
interface WalletLimits {
  anchorDay: number;
  limits: {
    scope: LimitScope;
    subjectId: string | null;
    amount: number;
    mode: LimitMode;
    thresholds: number[];
  }[];
}

const cacheKey = (workspaceId: string, wallet: WalletKind) =>
  `limits\u0000${workspaceId}\u0000${wallet}`;

/** The limits store calls this after any change, so the next operation reads them again. */
export function forgetLimits(tx: TxExecutor, workspaceId: string, wallet: WalletKind): void {
  tx.forget(cacheKey(workspaceId, wallet));
}

/** The wallet's limits (null when it has none): one indexed read, remembered by the store where it can. */
async function walletLimits(
  tx: TxExecutor,
  workspaceId: string,
  wallet: WalletKind,
): Promise<WalletLimits | null> {
  const key = cacheKey(workspaceId, wallet);
  const known = tx.recall<{ value: WalletLimits | null }>(key);
  if (known) return known.value;
  const rows = await tx.all<{
    anchorDay: number;
    scope: LimitScope;
    subjectId: string;
    amount: number;
    mode: LimitMode;
    thresholds: string;
  }>(
    `SELECT w.billing_anchor_day AS "anchorDay", l.scope, l.subject_id AS "subjectId", l.amount, l.mode, l.thresholds
     FROM spend_limits l JOIN workspaces w ON w.id = l.workspace_id
     WHERE l.workspace_id = ? AND l.wallet = ?`,
    [workspaceId, wallet],
  );
  const value: WalletLimits | null =
    rows.length === 0
      ? null
      : {
          anchorDay: Number(rows[0]!.anchorDay),
          limits: rows.map((r) => ({
            scope: r.scope,
            subjectId: r.subjectId === '' ? null : r.subjectId,
            amount: Number(r.amount),
            mode: r.mode,
            thresholds: JSON.parse(r.thresholds) as number[],
          })),
        };
  tx.remember(key, { value });
  return value;
}

/** The actor a member's or a key's limit covers (as jobs record who reserved or charged). */
export function limitActor(scope: LimitScope, subjectId: string | null): string | null {
  if (scope === 'workspace' || subjectId === null) return null;
  return scope === 'member' ? `user:${subjectId}` : `key:${subjectId}`;
}

const UPSERT = `INSERT INTO spend_counters (workspace_id, wallet, actor, bucket, amount) VALUES (?, ?, ?, ?, ?)
  ON CONFLICT (workspace_id, wallet, actor, bucket) DO UPDATE SET amount = spend_counters.amount + excluded.amount`;
const SUBTRACT = `UPDATE spend_counters SET amount = amount - ?
  WHERE workspace_id = ? AND wallet = ? AND actor = ? AND bucket = ?`;

/**
 * Every limit that applies to a job of `actor` (the workspace's, the member's or key's) with
 * what counts against it: spend this cycle and open holds.
 */
async function usageOf(
  tx: TxExecutor,
  input: { workspaceId: string; wallet: WalletKind; actor: string; cycleKey: string },
  wl: WalletLimits,
): Promise<LimitUsage[]> {
  const applicable = wl.limits.filter(
    (l) => l.scope === 'workspace' || limitActor(l.scope, l.subjectId) === input.actor,
  );
  if (applicable.length === 0) return [];
  const rows = await tx.all<{ actor: string; bucket: string; amount: number }>(
    `SELECT actor, bucket, amount FROM spend_counters
     WHERE workspace_id = ? AND wallet = ? AND bucket IN ('held', ?)`,
    [input.workspaceId, input.wallet, input.cycleKey],
  );
  return applicable.map((l) => {
    const who = limitActor(l.scope, l.subjectId);
    let used = 0;
    let held = 0;
    for (const r of rows) {
      if (who !== null && r.actor !== who) continue;
      if (r.bucket === 'held') held += Number(r.amount);
      else used += Number(r.amount);
    }
    return { ...l, used, held };
  });
}

function whose(scope: LimitScope, subjectId: string | null): string {
  if (scope === 'workspace') return 'the workspace';
  return scope === 'member' ? `member ${subjectId}` : `API key ${subjectId}`;
}

/**
 * A job of `credits` is about to be held (`hold`) or spent in one step (`spend`) by `actor`:
 * refuse it with SPEND_LIMIT_REACHED when it does not fit every hard limit that applies
 * (open holds count), else count it and record the thresholds it crosses (each once per
 * cycle: an in-app notification, and the signed webhook when the workspace set one). Call
 * after the wallet row is locked, before anything of the job is written.
 */
export async function admitSpend(
  tx: TxExecutor,
  input: {
    workspaceId: string;
    wallet: WalletKind;
    actor: string;
    credits: number;
    kind: 'hold' | 'spend';
    now: number;
  },
): Promise<void> {
  const wl = await walletLimits(tx, input.workspaceId, input.wallet);
  if (!wl) return;
  const cycle = cycleAt({ anchorDay: wl.anchorDay, now: input.now });
  const limits = await usageOf(tx, { ...input, cycleKey: cycle.key }, wl);
  const verdict = checkLimits({ limits, needed: input.credits });
  if (!verdict.ok) {
    const r = verdict.refusal;
    const left = Math.max(0, r.limit - r.used - r.held);
    throw new CreditsError(
      'SPEND_LIMIT_REACHED',
      `This job needs ${r.needed.toLocaleString('en-US')} credits; the spending limit of ${whose(r.scope, r.subjectId)} allows ${left.toLocaleString('en-US')} more this cycle.`,
      { wallet: input.wallet, ...r, resetsAt: cycle.end },
    );
  }
  const bucket = input.kind === 'hold' ? 'held' : cycle.key;
  await tx.run(UPSERT, [input.workspaceId, input.wallet, input.actor, bucket, input.credits]);
  for (const { limit, thresholds } of verdict.crossed) {
    await recordCrossing(tx, {
      workspaceId: input.workspaceId,
      wallet: input.wallet,
      cycleKey: cycle.key,
      limit,
      thresholds,
      after: limit.used + limit.held + input.credits,
      now: input.now,
    });
  }
}

/** Each threshold once per limit and cycle (the table's key decides); one notification when any is new. */
async function recordCrossing(
  tx: TxExecutor,
  c: {
    workspaceId: string;
    wallet: WalletKind;
    cycleKey: string;
    limit: LimitUsage;
    thresholds: number[];
    /** What counts against the limit with this job. */
    after: number;
    now: number;
  },
): Promise<void> {
  const { limit } = c;
  const used = c.after;
  const fresh: number[] = [];
  for (const threshold of c.thresholds) {
    const claimed = await tx.run(
      `INSERT INTO spend_limit_alerts (workspace_id, wallet, scope, subject_id, cycle_key, threshold, used, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
      [
        c.workspaceId,
        c.wallet,
        limit.scope,
        limit.subjectId ?? '',
        c.cycleKey,
        threshold,
        used,
        c.now,
      ],
    );
    if (claimed.changes === 1) fresh.push(threshold);
  }
  if (fresh.length === 0) return;
  const label = DEFAULT_WALLET_CATALOG[c.wallet]?.label ?? c.wallet;
  const top = Math.max(...fresh);
  await notify(
    tx,
    {
      workspaceId: c.workspaceId,
      wallet: c.wallet,
      kind: 'limit_threshold',
      balance: used,
      message:
        `${label}: ${top}% of the ${limit.mode} spending limit of ${whose(limit.scope, limit.subjectId)} ` +
        `reached (${used.toLocaleString('en-US')} of ${limit.amount.toLocaleString('en-US')} credits this cycle, open holds included).`,
    },
    c.now,
  );
}

/**
 * A hold of `held` credits reserved by `actor` settled (captured, released or expired) with
 * `captured` of them spent: move them from the actor's open holds to its spend this cycle.
 * Call after the wallet row is locked.
 */
export async function settleSpend(
  tx: TxExecutor,
  input: {
    workspaceId: string;
    wallet: WalletKind;
    actor: string;
    held: number;
    captured: number;
    now: number;
  },
): Promise<void> {
  const wl = await walletLimits(tx, input.workspaceId, input.wallet);
  if (!wl) return;
  await tx.run(SUBTRACT, [input.held, input.workspaceId, input.wallet, input.actor, 'held']);
  if (input.captured > 0) {
    const cycle = cycleAt({ anchorDay: wl.anchorDay, now: input.now });
    await tx.run(UPSERT, [input.workspaceId, input.wallet, input.actor, cycle.key, input.captured]);
  }
}

/**
 * Credits a refund gives back to a job's spend: they no longer count against the limits of
 * the cycle the refund happens in (never below zero).
 */
export async function refundSpend(
  tx: TxExecutor,
  input: { workspaceId: string; wallet: WalletKind; actor: string; credits: number; now: number },
): Promise<void> {
  const wl = await walletLimits(tx, input.workspaceId, input.wallet);
  if (!wl) return;
  const cycle = cycleAt({ anchorDay: wl.anchorDay, now: input.now });
  const row = await tx.get<{ amount: number }>(
    `SELECT amount FROM spend_counters WHERE workspace_id = ? AND wallet = ? AND actor = ? AND bucket = ?`,
    [input.workspaceId, input.wallet, input.actor, cycle.key],
  );
  const take = Math.min(Number(row?.amount ?? 0), input.credits);
  if (take > 0)
    await tx.run(SUBTRACT, [take, input.workspaceId, input.wallet, input.actor, cycle.key]);
}

/**
 * Build a wallet's counters from its jobs (after a limit was set or removed), in the change's
 * transaction with the wallet row locked, so no money operation moves them meanwhile: open
 * holds per actor, and spend per actor this cycle. A wallet with no limit left keeps none.
 */
export async function rebuildCounters(
  tx: TxExecutor,
  input: { workspaceId: string; wallet: WalletKind; now: number; lockRows: string },
): Promise<void> {
  forgetLimits(tx, input.workspaceId, input.wallet);
  await tx.get(
    `SELECT available FROM wallets WHERE workspace_id = ? AND kind = ? ${input.lockRows}`,
    [input.workspaceId, input.wallet],
  );
  const key = [input.workspaceId, input.wallet];
  await tx.run(`DELETE FROM spend_counters WHERE workspace_id = ? AND wallet = ?`, key);
  const wl = await walletLimits(tx, input.workspaceId, input.wallet);
  if (!wl) return;
  const cycle = cycleAt({ anchorDay: wl.anchorDay, now: input.now });
  await tx.run(
    `INSERT INTO spend_counters (workspace_id, wallet, actor, bucket, amount)
     SELECT workspace_id, wallet, actor, 'held', SUM(held) FROM jobs
     WHERE workspace_id = ? AND wallet = ? AND status = 'reserved'
     GROUP BY workspace_id, wallet, actor`,
    key,
  );
  await tx.run(
    `INSERT INTO spend_counters (workspace_id, wallet, actor, bucket, amount)
     SELECT workspace_id, wallet, actor, ?, SUM(captured) FROM jobs
     WHERE workspace_id = ? AND wallet = ? AND status = 'completed' AND settled_at >= ? AND captured > 0
     GROUP BY workspace_id, wallet, actor`,
    [cycle.key, ...key, cycle.start],
  );
}

/**
 * For `verify` (invariant 9): where a wallet has limits, each actor's `held` counter equals
 * its open holds, so every check counted them; and no counter exists for a wallet without.
 */
export async function verifyCounters(
  tx: TxExecutor,
): Promise<{ workspaceId: string; wallet: string; invariant: string; detail: string }[]> {
  const rows = await tx.all<{
    workspaceId: string;
    wallet: string;
    actor: string;
    counted: number;
    open: number;
  }>(
    `SELECT c.workspace_id AS "workspaceId", c.wallet, c.actor, c.amount AS counted,
       (SELECT COALESCE(SUM(j.held), 0) FROM jobs j WHERE j.workspace_id = c.workspace_id
          AND j.wallet = c.wallet AND j.actor = c.actor AND j.status = 'reserved') AS open
     FROM spend_counters c WHERE c.bucket = 'held'
     UNION ALL
     SELECT j.workspace_id, j.wallet, j.actor, 0, SUM(j.held) FROM jobs j
     WHERE j.status = 'reserved'
       AND EXISTS (SELECT 1 FROM spend_limits l WHERE l.workspace_id = j.workspace_id AND l.wallet = j.wallet)
       AND NOT EXISTS (SELECT 1 FROM spend_counters c WHERE c.workspace_id = j.workspace_id
          AND c.wallet = j.wallet AND c.actor = j.actor AND c.bucket = 'held')
     GROUP BY j.workspace_id, j.wallet, j.actor`,
  );
  const out = rows
    .filter((r) => Number(r.counted) !== Number(r.open))
    .map((r) => ({
      workspaceId: r.workspaceId,
      wallet: r.wallet,
      invariant: '9 limits count open holds',
      detail: `${r.actor}: counted ${Number(r.counted)}, open holds ${Number(r.open)}`,
    }));
  const orphans = await tx.all<{ workspaceId: string; wallet: string }>(
    `SELECT DISTINCT c.workspace_id AS "workspaceId", c.wallet FROM spend_counters c
     WHERE NOT EXISTS (SELECT 1 FROM spend_limits l WHERE l.workspace_id = c.workspace_id AND l.wallet = c.wallet)`,
  );
  for (const o of orphans)
    out.push({ ...o, invariant: '9 limits count open holds', detail: 'counters without a limit' });
  return out;
}
