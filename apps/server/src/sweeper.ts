import type { Logger } from 'pino';
import { CycleService } from '@credits/api';
import type { Store } from '@credits/store';
import { deliverDueAlerts, type DeliveryReport, type FetchLike } from './alert-delivery.js';
import { reconcileAutoTopUps, type AutoTopUpRunner } from './payments/auto-top-up.js';

/** Idempotency keys are kept a week, well past the promised 24 hours. */
export const IDEMPOTENCY_RETENTION_MS = 7 * 24 * 3600 * 1000;

/** A checkout not paid within a day expires, with no credits. */
export const ORDER_TTL_MS = 24 * 3600 * 1000;

/** At most this many workspaces have their billing cycle checked in one pass. */
export const CYCLE_BATCH = 1000;

/**
 * The workspace list is read again this often: a new workspace is granted its first
 * allowance when it is made, so the sweeper only needs it by its first boundary.
 */
export const WORKSPACE_LIST_EVERY_MS = 60_000;

/** At most this many alert webhooks are sent in one pass. */
export const ALERT_BATCH = 50;

/** What a sweeper remembers between passes. */
export interface SweepState {
  /** Per workspace, the end of the cycle last made sure of: nothing to do there before it. */
  cycleEnds: Map<string, number>;
  /** Every workspace id, as last read, and when. */
  workspaceIds: string[];
  listedAt: number;
}

export function newSweepState(): SweepState {
  return {
    cycleEnds: new Map(),
    workspaceIds: [],
    listedAt: Number.NEGATIVE_INFINITY,
  };
}

export interface SweepOptions {
  /**
   * The server's cycle keeper (shared with its requests, so what one learns the other need
   * not read again); without one, the pass makes its own on the pass's clock.
   */
  cycles?: CycleService;
  /** For alert webhooks; the global `fetch` when absent. */
  fetch?: FetchLike;
  /** Kept across passes by {@link startSweeper}; a fresh one checks every workspace. */
  state?: SweepState;
  cycleBatch?: number;
  /**
   * Starts auto top-up purchases (the server's runner). With one, each pass also starts the
   * purchase of a crossing whose trigger was lost ({@link catchUpAutoTopUps}).
   */
  autoTopUp?: Pick<AutoTopUpRunner, 'run'>;
  alertBatch?: number;
  alertTimeoutMs?: number;
}

export type SweepStep = 'holds' | 'cycles' | 'lots' | 'orders' | 'autoTopUps' | 'keys' | 'alerts';

export interface SweepFailure {
  step: SweepStep;
  workspaceId?: string;
  error: unknown;
}

export interface SweepResult {
  /** Holds past their TTL, released. */
  holds: number;
  /** Workspaces whose cycle was checked (and its allowance granted where due). */
  cycles: number;
  /** Workspaces still due a cycle check (over the batch); the next pass takes them. */
  cyclesPending: number;
  /** Credits expired. */
  lots: number;
  /** Pending orders expired. */
  orders: number;
  /** Auto top-up attempts settled after their order (a crash between the two, or an expired order). */
  autoTopUps: number;
  /** Auto top-up purchases started for crossings whose trigger was lost. */
  autoTopUpsStarted: number;
  /** Idempotency keys forgotten. */
  keys: number;
  alerts: DeliveryReport;
  /** Steps (or workspaces) that failed; the others still ran. */
  failures: SweepFailure[];
}

const NO_ALERTS: DeliveryReport = {
  attempted: 0,
  delivered: 0,
  retrying: 0,
  failed: 0,
  skipped: 0,
};

/**
 * One pass, in this order:
 * 1. holds past their TTL are released;
 * 2. every workspace's billing cycle is made current (`CycleService.ensure`): each cycle's AI Token
 *    allowance granted once, missed cycles caught up after downtime, a pending downgrade
 *    applied — at most `cycleBatch` workspaces a pass, and only those past the end of the
 *    cycle this sweeper last saw;
 * 3. lots past their date expire — after step 2, so a finished cycle's allowance expires
 *    with the next one already granted (never an AI Tokens wallet that reads empty for a
 *    moment, nor a false "empty" alert). While step 2 has a backlog this waits a pass;
 *    reads and writes expire what they touch meanwhile;
 * 4. pending orders older than {@link ORDER_TTL_MS} expire, and auto top-up attempts follow
 *    their orders ({@link reconcileAutoTopUps}); with a runner, crossings whose purchase was
 *    never started are started ({@link catchUpAutoTopUps});
 * 5. idempotency keys older than {@link IDEMPOTENCY_RETENTION_MS} are forgotten;
 * 6. due alert webhooks are sent ({@link deliverDueAlerts}).
 *
 * A failing step (or workspace) is reported in `failures` and does not stop the others.
 */
export async function sweepOnce(
  store: Store,
  now: number,
  opts: SweepOptions = {},
): Promise<SweepResult> {
  const state = opts.state ?? newSweepState();
  const failures: SweepFailure[] = [];
  const step = async <T>(name: SweepStep, fallback: T, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      failures.push({ step: name, error });
      return fallback;
    }
  };

  const holds = await step('holds', 0, () => store.expireHolds({ now }));
  const cycles = await step('cycles', { checked: 0, pending: 0 }, () =>
    sweepCycles({
      store,
      now,
      state,
      cycles: opts.cycles ?? new CycleService({ store, clock: () => now }),
      batch: opts.cycleBatch ?? CYCLE_BATCH,
      failures,
    }),
  );
  const lots = cycles.pending > 0 ? 0 : await step('lots', 0, () => store.expireLots({ now }));
  const orders = await step('orders', 0, () =>
    store.billing.expireOrders({ before: now - ORDER_TTL_MS, now }),
  );
  const autoTopUps = await step('autoTopUps', 0, () => reconcileAutoTopUps({ store, now }));
  const runner = opts.autoTopUp;
  const autoTopUpsStarted = runner
    ? await step('autoTopUps', 0, () => catchUpAutoTopUps({ store, runner }))
    : 0;
  const keys = await step('keys', 0, () =>
    store.pruneIdempotencyKeys({ before: now - IDEMPOTENCY_RETENTION_MS }),
  );
  const alerts = await step('alerts', NO_ALERTS, () =>
    deliverDueAlerts({
      store,
      now,
      fetch: opts.fetch,
      limit: opts.alertBatch ?? ALERT_BATCH,
      timeoutMs: opts.alertTimeoutMs,
    }),
  );
  return {
    holds,
    cycles: cycles.checked,
    cyclesPending: cycles.pending,
    lots,
    orders,
    autoTopUps,
    autoTopUpsStarted,
    keys,
    alerts,
    failures,
  };
}

/**
 * Start the purchase of every crossing whose trigger was lost: an auto top-up that is on, a
 * wallet below its threshold, no attempt in flight (`store.autoTopUp.lostCrossings`), run
 * under the key the spend trigger would have used, so `begin` starts it once — never for a
 * crossing already tried — within the monthly cap and one attempt per wallet. Returns how
 * many purchases started.
 */
export async function catchUpAutoTopUps(input: {
  store: Store;
  runner: Pick<AutoTopUpRunner, 'run'>;
  limit?: number;
}): Promise<number> {
  let started = 0;
  for (const c of await input.store.autoTopUp.lostCrossings({ limit: input.limit ?? 100 }))
    if ((await input.runner.run(c)).started) started += 1;
  return started;
}

/** Step 2: make the cycle of each due workspace current, one workspace at a time. */
async function sweepCycles(input: {
  store: Store;
  now: number;
  state: SweepState;
  cycles: CycleService;
  batch: number;
  failures: SweepFailure[];
}): Promise<{ checked: number; pending: number }> {
  const { store, now, state } = input;
  if (now - state.listedAt >= WORKSPACE_LIST_EVERY_MS || now < state.listedAt) {
    state.workspaceIds = await store.listWorkspaceIds();
    state.listedAt = now;
  }
  const ids = state.workspaceIds;
  const due = ids.filter((id) => (state.cycleEnds.get(id) ?? Number.NEGATIVE_INFINITY) <= now);
  if (due.length === 0) return { checked: 0, pending: 0 };
  let checked = 0;
  for (const id of due.slice(0, input.batch)) {
    try {
      const workspace = await store.getWorkspace(id);
      if (!workspace) continue;
      const cycle = await input.cycles.ensure(workspace, now);
      state.cycleEnds.set(id, cycle.end);
      checked += 1;
    } catch (error) {
      input.failures.push({ step: 'cycles', workspaceId: id, error });
    }
  }
  return { checked, pending: Math.max(0, due.length - input.batch) };
}

/**
 * Run {@link sweepOnce} every `intervalMs`, one pass at a time (a tick that finds a pass
 * still running is skipped). `cycles` and `fetch` are optional: without them each pass makes
 * its own cycle keeper and alerts go through the global `fetch`.
 */
export function startSweeper(opts: {
  store: Store;
  clock: () => number;
  intervalMs: number;
  logger: Logger;
  cycles?: CycleService;
  fetch?: FetchLike;
  autoTopUp?: Pick<AutoTopUpRunner, 'run'>;
}) {
  const state = newSweepState();
  let running: Promise<void> = Promise.resolve();
  let busy = false;
  let stopped = false;
  const pass = async () => {
    try {
      const r = await sweepOnce(opts.store, opts.clock(), {
        state,
        cycles: opts.cycles,
        fetch: opts.fetch,
        autoTopUp: opts.autoTopUp,
      });
      for (const f of r.failures)
        opts.logger.error(
          { err: f.error, step: f.step, workspaceId: f.workspaceId },
          'sweep step failed',
        );
      const { failures: _failures, ...counts } = r;
      if (
        r.holds ||
        r.cycles ||
        r.cyclesPending ||
        r.lots ||
        r.orders ||
        r.autoTopUps ||
        r.autoTopUpsStarted ||
        r.keys ||
        r.alerts.attempted
      )
        opts.logger.info(counts, 'sweep');
    } catch (err) {
      opts.logger.error({ err }, 'sweep failed');
    }
  };
  const timer = setInterval(() => {
    if (stopped || busy) return;
    busy = true;
    running = pass().finally(() => {
      busy = false;
    });
  }, opts.intervalMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
    idle: () => running,
  };
}
