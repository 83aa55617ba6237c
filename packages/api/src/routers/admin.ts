import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { CreditsError, DEFAULT_PLANS, WALLET_KINDS, findPlan } from '@credits/domain';
import { trialGrant } from '@credits/rules';
import { adminProcedure } from '../trpc.js';
import {
  creditsSchema,
  epochMsSchema,
  idempotencyKeySchema,
  lotSourceSchema,
  reasonTextSchema,
  walletSchema,
  workspaceIdSchema,
} from '../schemas.js';
import { requestHash } from '../request-hash.js';

const PLAN_IDS = DEFAULT_PLANS.map((p) => p.id) as [string, ...string[]];

export const adminRouter = {
  workspaces: {
    /**
     * Create a workspace with every wallet; a trial-eligible plan also gets the trial lot
     * once (its own idempotency key is derived from this one, so a retry grants it once).
     */
    create: adminProcedure
      .input(
        z
          .object({
            id: z.string().regex(/^[a-zA-Z0-9_-]{3,64}$/).optional(),
            name: z.string().trim().min(1).max(120),
            plan: z.enum(PLAN_IDS).default('free'),
            billingAnchorDay: z.number().int().min(1).max(31).optional(),
            idempotencyKey: idempotencyKeySchema,
          })
          .strict(),
      )
      .mutation(async ({ ctx, input }) => {
        const plan = findPlan(input.plan)!;
        const now = ctx.now();
        const workspace = await ctx.store.createWorkspace({
          id: input.id,
          name: input.name,
          plan: plan.id,
          features: plan.features,
          billingAnchorDay: input.billingAnchorDay ?? new Date(now).getUTCDate(),
          wallets: WALLET_KINDS,
          now,
          idempotencyKey: input.idempotencyKey,
          requestHash: requestHash('admin.workspaces.create', input),
        });
        const rules = await ctx.rules.current();
        const trial = trialGrant(rules.document, { trialEligible: plan.trialEligible, plan: plan.id });
        let trialLot: { lotId: string; amount: number } | null = null;
        if (trial) {
          const g = await ctx.store.grant({
            workspaceId: workspace.id,
            wallet: 'video_credits',
            amount: trial.credits,
            source: 'trial',
            restriction: trial.restriction,
            description: trial.message,
            actor: 'system:trial',
            now: workspace.createdAt,
            idempotencyKey: `trial:${workspace.id}`,
            requestHash: 'trial',
          });
          trialLot = { lotId: g.lotId, amount: g.amount };
        }
        return { workspace, trial: trialLot };
      }),
  },

  ledger: {
    /** Add credits to a wallet as a new lot, with a reason the history shows. */
    grant: adminProcedure
      .input(
        z
          .object({
            workspaceId: workspaceIdSchema,
            wallet: walletSchema,
            amount: creditsSchema,
            source: lotSourceSchema.default('adjustment'),
            expiresAt: epochMsSchema.optional(),
            reason: reasonTextSchema,
            idempotencyKey: idempotencyKeySchema,
          })
          .strict(),
      )
      .mutation(async ({ ctx, input }) => {
        const now = ctx.now();
        if (input.expiresAt !== undefined && input.expiresAt <= now) {
          throw new CreditsError('VALIDATION', 'expiresAt must be in the future.', { field: 'expiresAt' });
        }
        return ctx.store.grant({
          workspaceId: input.workspaceId,
          wallet: input.wallet,
          amount: input.amount,
          source: input.source,
          expiresAt: input.expiresAt ?? null,
          description: input.reason,
          actor: ctx.caller.id,
          now,
          idempotencyKey: input.idempotencyKey,
          requestHash: requestHash('admin.ledger.grant', input),
        });
      }),
  },
} satisfies TRPCRouterRecord;
