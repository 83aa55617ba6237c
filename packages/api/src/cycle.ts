import { cycleAt } from '@credits/domain';
import type { Workspace } from '@credits/store';
import type { Context } from './trpc.js';
import { forgetWorkspace } from './pricing.js';

/** Cycles whose allowance this process has already seen granted, per workspace. */
const ensured = new Map<string, string>();

/** At most this many missed cycles are caught up at once (a 2-year outage). */
const MAX_CATCH_UP = 24;

/**
 * Make sure the AI Token allowance of every cycle up to now has been granted: once per
 * cycle (the grant's idempotency key names the workspace and the cycle, and the database
 * holds one allowance lot per cycle), whoever finds the boundary first — a request, the
 * sweeper, or a restart after days down. Missed cycles are granted with their own expiry,
 * so a cycle that ended during an outage is granted and expired, both on the ledger.
 * A pending downgrade takes effect at the first new boundary.
 */
export async function ensureCycle(
  ctx: Context,
  workspace: Workspace,
): Promise<{ start: number; end: number; key: string; plan: string }> {
  const now = ctx.now();
  const current = cycleAt({ anchorDay: workspace.billingAnchorDay, now });
  if (ensured.get(workspace.id) === current.key) return { ...current, plan: workspace.plan };
  const last = await ctx.store.billing.lastAllowanceCycle(workspace.id);
  let plan = workspace.plan;
  if (last !== current.key) {
    if (last !== null && last < current.key) {
      const pending = await ctx.store.billing.pendingPlan(workspace.id);
      if (pending) {
        const applied = await ctx.store.billing.applyPendingPlan({
          workspaceId: workspace.id,
          now,
        });
        if (applied) {
          plan = applied;
          forgetWorkspace(workspace.id);
        }
      }
      // The plan as stored now: a concurrent request may have applied the pending downgrade
      // first, and the caller's copy of the workspace was read before it did.
      plan = (await ctx.store.getWorkspace(workspace.id))?.plan ?? plan;
    }
    const cycles: { start: number; end: number; key: string }[] = [];
    let c =
      last === null
        ? current
        : cycleAt({
            anchorDay: workspace.billingAnchorDay,
            now: cycleAt({
              anchorDay: workspace.billingAnchorDay,
              now: Date.parse(`${last}T00:00:00Z`),
            }).end,
          });
    // Every missed cycle up to the current one; only the latest MAX_CATCH_UP are granted below.
    while (c.start <= current.start) {
      cycles.push(c);
      c = cycleAt({ anchorDay: workspace.billingAnchorDay, now: c.end });
    }
    const p = await ctx.store.billing.plan(plan);
    if (p && p.aiTokensPerCycle > 0) {
      for (const cycle of cycles.slice(-MAX_CATCH_UP)) {
        await ctx.store.grant({
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
  ensured.set(workspace.id, current.key);
  return { ...current, plan };
}

/** Forget what this process knows (tests that move the clock backwards; plan changes). */
export function forgetCycle(workspaceId?: string): void {
  if (workspaceId) ensured.delete(workspaceId);
  else ensured.clear();
}
