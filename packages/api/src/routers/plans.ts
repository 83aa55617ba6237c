import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { CreditsError, PLAN_CURRENCY, cycleAt, type Plan } from '@credits/domain';
import type { Store, Workspace } from '@credits/store';
import { workspaceProcedure } from '../trpc.js';
import { idempotencyKeySchema, workspaceIdSchema } from '../schemas.js';
import { requestHash } from '../request-hash.js';
import { loadWorkspace } from '../workspace-cache.js';
import { openCheckout, returnPathSchema } from './billing.js';

const planIdSchema = z.string().regex(/^[a-z0-9_-]{2,40}$/);

/**
 * What an owner can do with a plan from the one in force: `current`; `upgrade` through checkout
 * (not fewer AI Tokens, a price to pay); `downgrade` scheduled for the next reset (fewer AI
 * Tokens; never paid, never refunded); `unavailable` (more AI Tokens but no price: nothing to buy).
 */
export type PlanAction = 'current' | 'upgrade' | 'downgrade' | 'unavailable';

/** The same rule as `admin.workspaces.setPlan`: fewer AI Tokens per cycle is a downgrade. */
export function planAction(from: Plan | null, to: Plan): PlanAction {
  if (from?.id === to.id) return 'current';
  if (from !== null && to.aiTokensPerCycle < from.aiTokensPerCycle) return 'downgrade';
  return to.priceCents > 0 && to.aiTokensPerCycle > 0 ? 'upgrade' : 'unavailable';
}

async function planPair(store: Store, workspace: Workspace, planId: string) {
  const [from, to] = await Promise.all([
    store.billing.plan(workspace.plan),
    store.billing.plan(planId),
  ]);
  if (!to || !to.active)
    throw new CreditsError('NOT_FOUND', `No plan "${planId}" on offer.`, { plan: planId });
  return { from, to, action: planAction(from, to) };
}

export const plansRouter = {
  /**
   * The plans on offer, for comparison: each with its AI Tokens per cycle, features, display
   * price and what the owner could do (`action`); the plan in force (also when retired), the
   * downgrade scheduled (with the date it takes effect: this cycle's reset) and the reset date.
   */
  list: workspaceProcedure('read')
    .input(z.object({ workspaceId: workspaceIdSchema }).strict())
    .query(async ({ ctx, input }) => {
      const workspace = await loadWorkspace(ctx.store, input.workspaceId);
      const [offered, current, pendingId] = await Promise.all([
        ctx.store.billing.plans(),
        ctx.store.billing.plan(workspace.plan),
        ctx.store.billing.pendingPlan(workspace.id),
      ]);
      const shown =
        offered.some((p) => p.id === workspace.plan) || !current ? offered : [...offered, current];
      const resetsAt = cycleAt({ anchorDay: workspace.billingAnchorDay, now: ctx.now() }).end;
      const pending = pendingId ? await ctx.store.billing.plan(pendingId) : null;
      return {
        currentPlan: workspace.plan,
        resetsAt,
        pendingDowngrade: pending
          ? { plan: pending.id, name: pending.name, effectiveAt: resetsAt }
          : null,
        plans: shown
          .map((p) => ({
            id: p.id,
            name: p.name,
            aiTokensPerCycle: p.aiTokensPerCycle,
            priceCents: p.priceCents,
            currency: PLAN_CURRENCY,
            features: p.features,
            trialEligible: p.trialEligible,
            current: p.id === workspace.plan,
            action: planAction(current, p),
          }))
          .sort((a, b) => a.aiTokensPerCycle - b.aiTokensPerCycle || a.priceCents - b.priceCents),
      };
    }),

  /**
   * Owners upgrade: a pending plan order at the plan's display price and a provider checkout
   * session (the same key and body return the same order and session). Only the provider's
   * verified `paid` webhook changes the plan: at once, the AI Tokens allowance rising to the new
   * limit less what was used this cycle. A plan with fewer AI Tokens is a downgrade
   * (`scheduleDowngrade`); a plan with no price cannot be bought.
   */
  checkout: workspaceProcedure('owner')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          plan: planIdSchema,
          idempotencyKey: idempotencyKeySchema,
          returnPath: returnPathSchema.optional(),
        })
        .strict(),
    )
    .mutation(async ({ ctx, input }) => {
      if (!ctx.payments)
        throw new CreditsError(
          'FEATURE_UNAVAILABLE',
          'Upgrading is not available on this server (no payment provider is configured).',
        );
      const workspace = await loadWorkspace(ctx.store, input.workspaceId);
      const { to, action } = await planPair(ctx.store, workspace, input.plan);
      if (action !== 'upgrade')
        throw new CreditsError('VALIDATION', upgradeRefusal(to, action), {
          plan: to.id,
          action,
        });
      const now = ctx.now();
      const order = await ctx.store.billing.createPlanOrder({
        workspaceId: workspace.id,
        plan: to,
        provider: ctx.payments.provider,
        createdBy: ctx.caller.id,
        now,
        idempotencyKey: input.idempotencyKey,
        requestHash: requestHash('plans.checkout', input),
      });
      const { current, checkoutUrl } = await openCheckout({
        store: ctx.store,
        payments: ctx.payments,
        order,
        returnPath: input.returnPath ?? '/plans',
        now,
        itemName: planItemName(to),
      });
      return {
        orderId: order.id,
        status: current.status,
        checkoutUrl,
        plan: to.id,
        priceCents: order.priceCents,
        currency: order.currency,
      };
    }),

  /**
   * Owners schedule a downgrade (a plan with fewer AI Tokens) for the next reset: nothing is
   * paid or refunded; the plan and its allowance stay until then. Scheduling another replaces
   * it; an upgrade cancels it. The same key and body replay the answer.
   */
  scheduleDowngrade: workspaceProcedure('owner')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          plan: planIdSchema,
          idempotencyKey: idempotencyKeySchema,
        })
        .strict(),
    )
    .mutation(async ({ ctx, input }) => {
      const workspace = await loadWorkspace(ctx.store, input.workspaceId);
      const { to, action } = await planPair(ctx.store, workspace, input.plan);
      if (action !== 'downgrade')
        throw new CreditsError(
          'VALIDATION',
          action === 'current'
            ? `The workspace is on the ${to.name} plan already.`
            : `${to.name} is not a downgrade: upgrade through checkout (plans.checkout).`,
          { plan: to.id, action },
        );
      const now = ctx.now();
      const cycle = await ctx.cycles.ensure(workspace, now);
      const answer = await ctx.store.billing.changePlan({
        workspaceId: workspace.id,
        plan: to,
        downgrade: true,
        cycle,
        actor: ctx.caller.id,
        reason: `Owner scheduled a downgrade to ${to.name}`,
        now,
        idempotencyKey: `plans.scheduleDowngrade:${input.idempotencyKey}`,
        requestHash: requestHash('plans.scheduleDowngrade', input),
        scope: workspace.id,
      });
      return {
        plan: answer.plan,
        pendingPlan: answer.pendingPlan,
        effectiveAt: cycle.end,
      };
    }),

  /** Owners cancel a scheduled downgrade; `cancelled` is the plan it named (null: none was). */
  cancelDowngrade: workspaceProcedure('owner')
    .input(z.object({ workspaceId: workspaceIdSchema }).strict())
    .mutation(async ({ ctx, input }) => {
      const workspace = await loadWorkspace(ctx.store, input.workspaceId);
      const cancelled = await ctx.store.billing.cancelPendingPlan({
        workspaceId: workspace.id,
        actor: ctx.caller.id,
        now: ctx.now(),
      });
      return { cancelled };
    }),
} satisfies TRPCRouterRecord;

/** "Pro plan (1,000,000 AI Tokens per cycle)": how checkout pages and receipts name a plan order. */
export function planItemName(plan: Pick<Plan, 'name' | 'aiTokensPerCycle'>): string {
  return `${plan.name} plan (${plan.aiTokensPerCycle.toLocaleString('en-US')} AI Tokens per cycle)`;
}

function upgradeRefusal(to: Plan, action: PlanAction): string {
  switch (action) {
    case 'current':
      return `The workspace is on the ${to.name} plan already.`;
    case 'downgrade':
      return `${to.name} has fewer AI Tokens than the plan in force: schedule it as a downgrade for the next reset.`;
    case 'unavailable':
    case 'upgrade':
      return `The ${to.name} plan has no price: it cannot be bought.`;
  }
}
