import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import {
  CreditsError,
  DEFAULT_LIMIT_THRESHOLDS,
  LIMIT_MODES,
  LIMIT_SCOPES,
  MAX_LIMIT_CREDITS,
  MAX_LIMIT_THRESHOLDS,
  normalizeThresholds,
} from '@credits/domain';
import { workspaceProcedure } from '../trpc.js';
import { idSchema, walletSchema, workspaceIdSchema } from '../schemas.js';
import { loadWorkspace } from '../workspace-cache.js';
import { checkSubject, limitCycle, limitViews } from '../spend-limits.js';

const limitKey = {
  workspaceId: workspaceIdSchema,
  wallet: walletSchema,
  scope: z.enum(LIMIT_SCOPES),
  /** The member's user id or the key's id; absent (or null) for the workspace's own limit. */
  subjectId: idSchema.nullable().optional(),
};

export const spendingRouter = {
  /**
   * Spending limits with what counts against them this cycle (spend and open holds), the
   * thresholds already alerted, and when the cycle resets. Members read; owners edit.
   */
  limits: workspaceProcedure('read')
    .input(z.object({ workspaceId: workspaceIdSchema, wallet: walletSchema.optional() }).strict())
    .query(async ({ ctx, input }) => {
      const workspace = await loadWorkspace(ctx.store, input.workspaceId);
      const cycle = limitCycle(ctx, workspace);
      return {
        cycle: { key: cycle.key, start: cycle.start, resetsAt: cycle.end },
        limits: await limitViews(ctx, workspace, input.wallet),
      };
    }),

  /** Owners set (or replace) one limit: the workspace's, a member's or a key's, per wallet. Audited. */
  setLimit: workspaceProcedure('owner')
    .input(
      z
        .object({
          ...limitKey,
          amount: z.number().int().min(0).max(MAX_LIMIT_CREDITS),
          mode: z.enum(LIMIT_MODES),
          thresholds: z
            .array(z.number().int().min(1).max(100))
            .max(MAX_LIMIT_THRESHOLDS)
            .default([...DEFAULT_LIMIT_THRESHOLDS]),
        })
        .strict(),
    )
    .mutation(async ({ ctx, input }) => {
      await loadWorkspace(ctx.store, input.workspaceId);
      const thresholds = normalizeThresholds(input.thresholds);
      if (!thresholds)
        throw new CreditsError('VALIDATION', 'Each threshold may appear once.', {
          field: 'thresholds',
        });
      const subjectId = await checkSubject(ctx, input);
      return ctx.store.spendLimits.set({
        workspaceId: input.workspaceId,
        wallet: input.wallet,
        scope: input.scope,
        subjectId,
        amount: input.amount,
        mode: input.mode,
        thresholds,
        now: ctx.now(),
        audit: { actor: ctx.caller.id, action: 'spend_limit.set' },
      });
    }),

  /** Owners remove one limit. Audited when there was one. */
  removeLimit: workspaceProcedure('owner')
    .input(z.object(limitKey).strict())
    .mutation(async ({ ctx, input }) => ({
      removed: await ctx.store.spendLimits.remove({
        workspaceId: input.workspaceId,
        wallet: input.wallet,
        scope: input.scope,
        subjectId: input.scope === 'workspace' ? null : (input.subjectId ?? null),
        now: ctx.now(),
        audit: { actor: ctx.caller.id, action: 'spend_limit.remove' },
      }),
    })),
} satisfies TRPCRouterRecord;
