import { cycleAt } from '@credits/domain';
import type { Store, Workspace } from '@credits/store';
import type { WorkspaceCache } from './workspace-cache.js';

/** At most this many missed cycles are caught up at once (a 2-year outage). */
const MAX_CATCH_UP = 24;

export interface Cycle {
  start: number;
  end: number;
  key: string;
}

/** The cycle in force and the plan it runs under. */
export interface CycleState extends Cycle {
  plan: string;
}

/**
 * What {@link CycleService.ensure} would do now, worked out without writing: the plan in
 * force once a pending downgrade applies, and this cycle's allowance when it is not granted
 * yet. Quotes price with it, so a quote never grants anything.
 */
export interface CyclePreview extends CycleState {
  /** The plan's features when the pending downgrade would apply now; null: the stored ones. */
  features: string[] | null;
  /** This cycle's allowance when nobody has granted it yet. */
  allowance: { amount: number; expiresAt: number; cycleKey: string } | null;
}

/**
 * The AI Token cycle keeper: makes sure the allowance of every cycle up to now has been
 * granted, once per cycle (the grant's idempotency key names the workspace and the cycle, and
 * the database holds one allowance lot per cycle), whoever finds the boundary first — a
 * request, the sweeper, or a restart after days down. Missed cycles are granted with their own
 * expiry, so a cycle that ended during an outage is granted and expired, both on the ledger.
 * A pending downgrade takes effect at the first new boundary.
 *
 * One instance per server (store and clock injected): it remembers, per workspace, the cycle
 * it last saw granted, so a request in the middle of a cycle reads nothing.
 *
 * @example
 * const cycles = new CycleService({ store, clock: Date.now, workspaces });
 * const { key, end, plan } = await cycles.ensure(workspace);
 */
export class CycleService {
  /**
   * The cycle whose allowance this instance has seen granted, per workspace, with the anchor
   * day it was worked out from: while the clock is inside it, nothing needs working out.
   */
  private readonly ensured = new Map<string, Cycle & { anchorDay: number }>();
  private readonly store: Store;
  private readonly clock: () => number;
  private readonly workspaces: WorkspaceCache | undefined;

  constructor(opts: {
    store: Store;
    clock: () => number;
    /** Told when a pending plan applies here (pricing must not keep the old plan). */
    workspaces?: WorkspaceCache;
  }) {
    this.store = opts.store;
    this.clock = opts.clock;
    this.workspaces = opts.workspaces;
  }

  /**
   * Grant every missing cycle up to now (and apply a pending downgrade at a boundary).
   * `now` defaults to the service's clock; the sweeper passes the time of its pass.
   */
  async ensure(workspace: Workspace, now = this.clock()): Promise<CycleState> {
    const seen = this.ensured.get(workspace.id);
    if (seen && this.isEnsured(workspace, now)) {
      return { start: seen.start, end: seen.end, key: seen.key, plan: workspace.plan };
    }
    const current = cycleAt({ anchorDay: workspace.billingAnchorDay, now });
    if (seen?.key === current.key) return { ...current, plan: workspace.plan };
    const last = await this.store.billing.lastAllowanceCycle(workspace.id);
    let plan = workspace.plan;
    if (last !== current.key) {
      if (last !== null && last < current.key) {
        const pending = await this.store.billing.pendingPlan(workspace.id);
        if (pending) {
          const applied = await this.store.billing.applyPendingPlan({
            workspaceId: workspace.id,
            now,
          });
          if (applied) {
            plan = applied;
            this.workspaces?.forget(workspace.id);
          }
        }
        // The plan as stored now: a concurrent request may have applied the pending downgrade
        // first, and the caller's copy of the workspace was read before it did.
        plan = (await this.store.getWorkspace(workspace.id))?.plan ?? plan;
      }
      const p = await this.store.billing.plan(plan);
      if (p && p.aiTokensPerCycle > 0) {
        for (const cycle of missedCycles(workspace.billingAnchorDay, last, current)) {
          await this.store.grant({
            workspaceId: workspace.id,
            wallet: 'ai_tokens',
            amount: p.aiTokensPerCycle,
            source: 'plan_allowance',
            expiresAt: cycle.end,
            cycleKey: cycle.key,
            description: `${p.name} plan AI Tokens for the cycle from ${cycle.key}`,
            actor: 'system:cycle',
            now,
            idempotencyKey: `allowance:${workspace.id}:${cycle.key}`,
            requestHash: 'allowance',
            system: true,
          });
        }
      }
    }
    this.ensured.set(workspace.id, { ...current, anchorDay: workspace.billingAnchorDay });
    return { ...current, plan };
  }

  /**
   * True when {@link ensure} would do nothing now: the clock is inside the cycle this
   * instance saw granted, for the same anchor day. Cycles partition time, so cycleAt would
   * answer that very cycle: a request mid-cycle computes and reads nothing.
   */
  isEnsured(workspace: Workspace, now = this.clock()): boolean {
    const seen = this.ensured.get(workspace.id);
    return (
      seen !== undefined &&
      seen.anchorDay === workspace.billingAnchorDay &&
      now >= seen.start &&
      now < seen.end
    );
  }

  /** What {@link ensure} would do now, read only (see {@link CyclePreview}). */
  async preview(workspace: Workspace, now = this.clock()): Promise<CyclePreview> {
    const current = cycleAt({ anchorDay: workspace.billingAnchorDay, now });
    const unchanged = { ...current, plan: workspace.plan, features: null, allowance: null };
    if (this.ensured.get(workspace.id)?.key === current.key) return unchanged;
    const last = await this.store.billing.lastAllowanceCycle(workspace.id);
    if (last !== null && last >= current.key) return unchanged;
    let plan = workspace.plan;
    let features: string[] | null = null;
    if (last !== null) {
      const [stored, pending] = await Promise.all([
        this.store.getWorkspace(workspace.id),
        this.store.billing.pendingPlan(workspace.id),
      ]);
      plan = pending ?? stored?.plan ?? plan;
      if (pending) features = (await this.store.billing.plan(pending))?.features ?? [];
    }
    const p = await this.store.billing.plan(plan);
    const allowance =
      p && p.aiTokensPerCycle > 0
        ? { amount: p.aiTokensPerCycle, expiresAt: current.end, cycleKey: current.key }
        : null;
    return { ...current, plan, features, allowance };
  }

  /** Forget what this instance remembers (a plan change; tests that simulate a restart). */
  forget(workspaceId?: string): void {
    if (workspaceId === undefined) this.ensured.clear();
    else this.ensured.delete(workspaceId);
  }
}

/** The cycles after `last` up to `current` (all of them when none was granted): the latest {@link MAX_CATCH_UP}. */
function missedCycles(anchorDay: number, last: string | null, current: Cycle): Cycle[] {
  const cycles: Cycle[] = [];
  let c =
    last === null
      ? current
      : cycleAt({
          anchorDay,
          now: cycleAt({ anchorDay, now: Date.parse(`${last}T00:00:00Z`) }).end,
        });
  while (c.start <= current.start) {
    cycles.push(c);
    c = cycleAt({ anchorDay, now: c.end });
  }
  return cycles.slice(-MAX_CATCH_UP);
}
