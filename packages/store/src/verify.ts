import type { TxExecutor } from './executor.js';
import { verifyCounters } from './controls/enforce.js';
import { verifyRefunds } from './controls/refunds.js';
import type { InvariantViolation, VerifyReport } from './types.js';

/** SPEC 13, in a handful of aggregate queries over one consistent snapshot. */
export async function verifyLedger(tx: TxExecutor): Promise<VerifyReport> {
  const violations: InvariantViolation[] = [];
  const key = (ws: string, w: string) => `${ws}\u0000${w}`;
  const n = (v: unknown) => Number(v ?? 0);

  const wallets = await tx.all<{
    workspaceId: string;
    kind: string;
    available: number;
    held: number;
  }>(`SELECT workspace_id AS "workspaceId", kind, available, held FROM wallets`);
  const ledger = new Map(
    (
      await tx.all<Record<string, unknown> & { workspaceId: string; wallet: string }>(
        `SELECT workspace_id AS "workspaceId", wallet,
          SUM(available_delta) AS "avail", SUM(held_delta) AS "held",
          SUM(CASE WHEN type IN ('grant','purchase','trial') OR (type = 'adjustment' AND amount > 0) THEN amount ELSE 0 END) AS "granted",
          SUM(CASE WHEN type = 'spend' THEN -amount ELSE 0 END) AS "spent",
          SUM(CASE WHEN type = 'expire' THEN -amount ELSE 0 END) AS "expired",
          SUM(CASE WHEN type = 'refund' THEN -amount ELSE 0 END) AS "refunded",
          SUM(CASE WHEN type = 'adjustment' AND amount < 0 THEN -amount ELSE 0 END) AS "adjustedOut",
          COUNT(*) AS "entries"
         FROM ledger_entries GROUP BY workspace_id, wallet`,
      )
    ).map((r) => [key(r.workspaceId, r.wallet), r]),
  );
  const lots = new Map(
    (
      await tx.all<Record<string, unknown> & { workspaceId: string; wallet: string }>(
        `SELECT workspace_id AS "workspaceId", wallet, SUM(granted) AS "granted",
          SUM(remaining) AS "remaining", MIN(remaining) AS "minRemaining",
          SUM(CASE WHEN expired_at IS NULL THEN remaining ELSE 0 END) AS "live"
         FROM lots GROUP BY workspace_id, wallet`,
      )
    ).map((r) => [key(r.workspaceId, r.wallet), r]),
  );
  const holds = new Map(
    (
      await tx.all<{ workspaceId: string; wallet: string; held: number }>(
        `SELECT workspace_id AS "workspaceId", wallet, SUM(held) AS "held"
         FROM jobs WHERE status = 'reserved' GROUP BY workspace_id, wallet`,
      )
    ).map((r) => [key(r.workspaceId, r.wallet), r]),
  );
  let entries = 0;
  const workspaces = new Set<string>();
  for (const w of wallets) {
    workspaces.add(w.workspaceId);
    const k = key(w.workspaceId, w.kind);
    const l = ledger.get(k);
    const lot = lots.get(k);
    const available = n(w.available);
    const held = n(w.held);
    entries += n(l?.entries);
    const bad = (invariant: string, detail: string) =>
      violations.push({ workspaceId: w.workspaceId, wallet: w.kind, invariant, detail });
    if (available < 0 || held < 0)
      bad('1 no negative balance', `available ${available}, held ${held}`);
    if (lot && n(lot.minRemaining) < 0)
      bad('1 no negative lot', `a lot has ${n(lot.minRemaining)}`);
    if (available !== n(l?.avail) || held !== n(l?.held)) {
      bad(
        '2 balance equals ledger',
        `wallet ${available}+${held}, ledger ${n(l?.avail)}+${n(l?.held)}`,
      );
    }
    if (available !== n(lot?.remaining)) {
      bad('2 balance equals lots', `available ${available}, lots remaining ${n(lot?.remaining)}`);
    }
    if (available !== n(lot?.live)) {
      bad('2 balance equals live lots', `available ${available}, live lots ${n(lot?.live)}`);
    }
    if (held !== n(holds.get(k)?.held)) {
      bad('5 held equals open holds', `held ${held}, open holds ${n(holds.get(k)?.held)}`);
    }
    const granted = n(lot?.granted);
    const out = n(l?.spent) + n(l?.expired) + n(l?.refunded) + n(l?.adjustedOut);
    if (granted !== n(l?.granted) || granted !== available + held + out) {
      bad(
        '3 conservation',
        `lots granted ${granted}, ledger granted ${n(l?.granted)}, available+held+spent+expired+refunded+adjusted ${available + held + out}`,
      );
    }
  }
  const settledTwice = await tx.all<{
    workspaceId: string;
    wallet: string;
    jobId: string;
    total: number;
  }>(
    `SELECT j.workspace_id AS "workspaceId", j.wallet, j.id AS "jobId", SUM(e.held_delta) AS "total"
     FROM jobs j JOIN ledger_entries e ON e.job_id = j.id
     GROUP BY j.workspace_id, j.wallet, j.id, j.status, j.held
     HAVING SUM(e.held_delta) <> CASE WHEN j.status = 'reserved' THEN j.held ELSE 0 END`,
  );
  for (const s of settledTwice) {
    violations.push({
      workspaceId: s.workspaceId,
      wallet: s.wallet,
      invariant: '5 a hold settles at most once',
      detail: `job ${s.jobId} leaves ${n(s.total)} held`,
    });
  }
  // A lot that is over (expired, or closed by a refund of its order) holds nothing: credits
  // left in one are counted in the wallet yet can never be spent or expire.
  const stranded = await tx.all<{
    workspaceId: string;
    wallet: string;
    lotId: string;
    remaining: number;
    refunded: number;
  }>(
    `SELECT l.workspace_id AS "workspaceId", l.wallet, l.id AS "lotId", l.remaining,
       CASE WHEN o.status = 'refunded' THEN 1 ELSE 0 END AS "refunded"
     FROM lots l LEFT JOIN orders o ON o.lot_id = l.id
     WHERE l.remaining > 0 AND (l.expired_at IS NOT NULL OR o.status = 'refunded')
     ORDER BY l.id LIMIT 100`,
  );
  for (const s of stranded) {
    violations.push({
      workspaceId: s.workspaceId,
      wallet: s.wallet,
      invariant: '7 no credits in a dead lot',
      detail: `${n(s.refunded) ? 'refunded' : 'expired'} lot ${s.lotId} still holds ${n(s.remaining)}`,
    });
  }
  const unanswered = await tx.all<{ scope: string; key: string }>(
    `SELECT scope, key FROM idempotency_keys WHERE response IS NULL`,
  );
  for (const u of unanswered) {
    violations.push({
      workspaceId: u.scope,
      wallet: '-',
      invariant: '4 idempotency',
      detail: `key ${u.key} has no answer`,
    });
  }
  // The history reads in order: each entry's balances are the previous entry's plus its
  // deltas (the first, its own deltas), wallet by wallet in id order.
  const broken = await tx.all<{ workspaceId: string; wallet: string; id: number }>(
    `SELECT "workspaceId", wallet, id FROM (
       SELECT workspace_id AS "workspaceId", wallet, id, balance_after, held_after, available_delta, held_delta,
         LAG(balance_after, 1, 0) OVER (PARTITION BY workspace_id, wallet ORDER BY id) AS prev_available,
         LAG(held_after, 1, 0) OVER (PARTITION BY workspace_id, wallet ORDER BY id) AS prev_held
       FROM ledger_entries) e
     WHERE balance_after <> prev_available + available_delta OR held_after <> prev_held + held_delta
     ORDER BY id LIMIT 100`,
  );
  for (const b of broken) {
    violations.push({
      workspaceId: b.workspaceId,
      wallet: b.wallet,
      invariant: '2 entries chain in order',
      detail: `entry ${Number(b.id)} does not follow the one before it`,
    });
  }
  const cycles = await tx.all<{ workspaceId: string; wallet: string; cycleKey: string }>(
    `SELECT workspace_id AS "workspaceId", wallet, cycle_key AS "cycleKey" FROM lots
     WHERE cycle_key IS NOT NULL GROUP BY workspace_id, wallet, cycle_key HAVING COUNT(*) > 1`,
  );
  for (const c of cycles) {
    violations.push({
      workspaceId: c.workspaceId,
      wallet: c.wallet,
      invariant: '6 one allowance per cycle',
      detail: c.cycleKey,
    });
  }
  violations.push(...(await verifyCounters(tx)), ...(await verifyRefunds(tx)));
  return {
    ok: violations.length === 0,
    workspaces: workspaces.size,
    wallets: wallets.length,
    entries,
    violations,
  };
}
