import { trialGrant } from '@credits/rules';
import type { Workspace } from '@credits/store';
import type { Context } from './trpc.js';

/**
 * What a new workspace receives: this cycle's AI Token allowance and, on a trial-eligible
 * plan, the free video trial. Each grant's idempotency key is derived from the workspace,
 * so running this twice (a retried sign-up, a re-run seed) grants once.
 */
export async function provisionWorkspace(
  ctx: Context,
  workspace: Workspace,
): Promise<{ trial: number; allowance: number }> {
  const plan = await ctx.store.billing.plan(workspace.plan);
  if (!plan) throw new Error(`workspace ${workspace.id} has unknown plan ${workspace.plan}`);
  const now = workspace.createdAt;
  // This cycle's allowance: the same grant (and key) the cycle keeper makes at each boundary.
  await ctx.cycles.ensure(workspace, ctx.now());
  const allowance = plan.aiTokensPerCycle;
  const rules = await ctx.rules.current();
  const trial = trialGrant(rules.document, { trialEligible: plan.trialEligible, plan: plan.id });
  if (trial) {
    await ctx.store.grant({
      workspaceId: workspace.id,
      wallet: 'video_credits',
      amount: trial.credits,
      source: 'trial',
      restriction: trial.restriction,
      description: trial.message,
      actor: 'system:trial',
      now,
      idempotencyKey: `trial:${workspace.id}`,
      requestHash: 'trial',
      system: true,
    });
  }
  return { trial: trial?.credits ?? 0, allowance };
}
