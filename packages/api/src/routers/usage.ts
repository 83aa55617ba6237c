import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { CreditsError, actionWhenShort, walletForJob, type WalletKind } from '@credits/domain';
import type { Job } from '@credits/rules';
import { serviceWorkspaceProcedure, workspaceProcedure, type Context } from '../trpc.js';
import {
  cursorSchema,
  entryTypeSchema,
  epochMsSchema,
  idSchema,
  idempotencyKeySchema,
  jobSchema,
  jobStatusSchema,
  walletSchema,
  workspaceIdSchema,
} from '../schemas.js';
import { priceForWorkspace, toPricedJob, trialShare, usableFor } from '../pricing.js';
import { requestHash } from '../request-hash.js';
import { quoteLimit, withLimitAction } from '../spend-limits.js';
import { actorFilter, spendGroups } from '../who-spent.js';

/** Time a money operation for metrics, whatever its outcome. */
async function observed<T>(ctx: Context, op: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    const value = await fn();
    ctx.observe?.({ op, ok: true, ms: performance.now() - started });
    return value;
  } catch (e) {
    ctx.observe?.({
      op,
      ok: false,
      reason: e instanceof CreditsError ? e.reason : 'ERROR',
      ms: performance.now() - started,
    });
    throw e;
  }
}

/**
 * Before spending AI Tokens: grant every cycle's allowance due by now (once per cycle; the
 * cycle keeper remembers the cycle it saw granted, so mid-cycle this reads nothing). Pricing
 * writes nothing itself, so a reserve or charge asks for it here, explicitly.
 */
async function ensureCycleFor(ctx: Context, input: { workspaceId: string; job: Job }) {
  if (walletForJob(input.job.kind) !== 'ai_tokens') return;
  // A Coming Soon wallet is refused by pricing, and granted nothing here.
  if (!ctx.store.catalogSnapshot().find((c) => c.kind === 'ai_tokens')?.available) return;
  const now = ctx.now();
  // Mid-cycle with the workspace cached (nearly every call), nothing is awaited.
  const workspace =
    ctx.workspaces.peek(input.workspaceId, now) ??
    (await ctx.workspaces.get(input.workspaceId, now));
  if (!ctx.cycles.isEnsured(workspace, now)) await ctx.cycles.ensure(workspace, now);
}

/** Tell the server's auto top-up trigger (if any) about a committed spend; never fails the call. */
function spent(
  ctx: Context,
  workspaceId: string,
  r: { wallet: WalletKind; jobId: string; credits: number; balance: number },
): void {
  try {
    ctx.afterSpend?.({
      workspaceId,
      wallet: r.wallet,
      jobId: r.jobId,
      credits: r.credits,
      balance: r.balance,
    });
  } catch {
    // The trigger logs its own failures; a spend that committed is answered regardless.
  }
}

function writeBase(
  ctx: Context & { caller: { id: string } },
  input: { workspaceId: string; idempotencyKey: string },
  op: string,
) {
  return {
    workspaceId: input.workspaceId,
    idempotencyKey: input.idempotencyKey,
    requestHash: requestHash(op, input),
    actor: ctx.caller.id,
    now: ctx.now(),
  };
}

const DAY_MS = 86_400_000;

/** UTC day, or the Monday of the UTC week. */
function bucketStart(at: number, bucket: 'day' | 'week'): number {
  const day = Math.floor(at / DAY_MS) * DAY_MS;
  if (bucket === 'day') return day;
  const weekday = (new Date(day).getUTCDay() + 6) % 7;
  return day - weekday * DAY_MS;
}

/**
 * Whose usage: one member's (user id) or one API key's (key id), as jobs record who reserved
 * or charged them. At most one of the two; by key needs the owners' right (`who-spent.ts`).
 */
const whoFields = {
  member: idSchema.optional(),
  apiKey: idSchema.optional(),
};

/**
 * The filters `history` and the CSV export (`GET /export/history.csv`, `history-csv.ts`)
 * share, so the CSV is exactly what the table shows.
 */
export const historyFilter = z
  .object({
    workspaceId: workspaceIdSchema,
    wallet: walletSchema.optional(),
    types: z.array(entryTypeSchema).max(9).optional(),
    from: epochMsSchema.optional(),
    to: epochMsSchema.optional(),
    ...whoFields,
  })
  .strict();

const quoteInput = z.object({ workspaceId: workspaceIdSchema, job: jobSchema }).strict();
const writeJobInput = z
  .object({ workspaceId: workspaceIdSchema, job: jobSchema, idempotencyKey: idempotencyKeySchema })
  .strict();

export const usageRouter = {
  /** Price a job; changes nothing (not even a cycle's allowance: see `priceForWorkspace`). */
  quote: workspaceProcedure('read')
    .input(quoteInput)
    .query(async ({ ctx, input }) => {
      const p = await priceForWorkspace(ctx, { ...input, quote: true });
      const usable = usableFor(p, ctx.now());
      const balance = p.lots.reduce(
        (s, l) => s + (l.expiresAt === null || l.expiresAt > ctx.now() ? l.remaining : 0),
        0,
      );
      const sufficient = usable >= p.priced.credits;
      const trialCredits = trialShare(p, ctx.now());
      // Would a spending limit refuse it (null when none applies to this caller)?
      const spendLimit = await quoteLimit(ctx, p.workspace, p.wallet, p.priced.credits);
      return {
        wallet: p.wallet,
        credits: p.priced.credits,
        breakdown: p.priced.breakdown,
        ruleVersion: p.priced.ruleVersion,
        // The trial pays: the rules accept the job for the trial AND, drawn in spend order
        // now, trial credits would pay all of it. False once the trial is used up.
        trialApplies:
          p.priced.trialApplies && p.priced.credits > 0 && trialCredits === p.priced.credits,
        trialCredits,
        balance,
        usable,
        sufficient,
        action: sufficient ? null : actionWhenShort(p.wallet),
        spendLimit,
      };
    }),

  /** Price a job and hold its credits until capture, release or expiry. */
  reserve: workspaceProcedure('use')
    .input(
      writeJobInput.extend({ ttlSec: z.number().int().min(10).max(86_400).optional() }).strict(),
    )
    .mutation(({ ctx, input }) =>
      observed(ctx, 'reserve', async () => {
        await ensureCycleFor(ctx, input);
        const p = await priceForWorkspace(ctx, input);
        const held = await withLimitAction(ctx, () =>
          ctx.store.reserve({
            ...writeBase(ctx, input, 'reserve'),
            priced: toPricedJob(p, input.job),
            ttlMs: input.ttlSec ? input.ttlSec * 1000 : ctx.config.holdTtlMs,
          }),
        );
        spent(ctx, input.workspaceId, { ...held, jobId: held.holdId });
        return held;
      }),
    ),

  /**
   * Settle a hold. With `actual`, the final cost is the price of the job that actually ran
   * (under the rule version that priced the hold), capped at the hold; with `credits`, that
   * amount, refused above the hold; with neither, the whole hold. The rest returns.
   */
  capture: workspaceProcedure('use')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          holdId: idSchema,
          actual: jobSchema.optional(),
          credits: z.number().int().min(0).max(1_000_000_000).optional(),
          idempotencyKey: idempotencyKeySchema,
        })
        .strict()
        .refine((v) => v.actual === undefined || v.credits === undefined, {
          message: 'Give the actual job or the final credits, not both.',
          path: ['credits'],
        }),
    )
    .mutation(({ ctx, input }) =>
      observed(ctx, 'capture', async () => {
        let credits = input.credits;
        if (input.actual) {
          const hold = await ctx.store.getJob({
            workspaceId: input.workspaceId,
            jobId: input.holdId,
          });
          if (!hold)
            throw new CreditsError('HOLD_NOT_FOUND', 'No such hold in this workspace.', {
              holdId: input.holdId,
            });
          if (hold.kind !== input.actual.kind) {
            throw new CreditsError(
              'VALIDATION',
              `The actual job must be a ${hold.kind} job, like the hold.`,
              {
                field: 'actual.kind',
              },
            );
          }
          const p = await priceForWorkspace(ctx, {
            workspaceId: input.workspaceId,
            job: input.actual,
            version: hold.ruleVersion ?? undefined,
          });
          // SPEC 6: the price of the job that ran, capped at the hold.
          credits = Math.min(p.priced.credits, hold.held);
        }
        return ctx.store.capture({
          ...writeBase(ctx, input, 'capture'),
          holdId: input.holdId,
          credits,
        });
      }),
    ),

  /** The job did not run: every held credit returns. */
  release: workspaceProcedure('use')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          holdId: idSchema,
          idempotencyKey: idempotencyKeySchema,
        })
        .strict(),
    )
    .mutation(({ ctx, input }) =>
      observed(ctx, 'release', () =>
        ctx.store.release({ ...writeBase(ctx, input, 'release'), holdId: input.holdId }),
      ),
    ),

  /** One-step debit for usage known afterwards (AI tokens). */
  charge: workspaceProcedure('use')
    .input(writeJobInput)
    .mutation(({ ctx, input }) =>
      observed(ctx, 'charge', async () => {
        await ensureCycleFor(ctx, input);
        const p = await priceForWorkspace(ctx, input);
        const charged = await withLimitAction(ctx, () =>
          ctx.store.charge({
            ...writeBase(ctx, input, 'charge'),
            priced: toPricedJob(p, input.job),
          }),
        );
        spent(ctx, input.workspaceId, charged);
        return charged;
      }),
    ),

  /**
   * Refund part or all of a finished job (captured or charged) — "the job failed after it
   * finished". Never more in total than the job cost; credits go back to the lots that paid.
   * Platform admins and service keys with `usage:write` only.
   */
  refund: serviceWorkspaceProcedure
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          jobId: idSchema,
          credits: z.number().int().min(1).max(1_000_000_000).optional(),
          reason: z.string().trim().min(1).max(500),
          idempotencyKey: idempotencyKeySchema,
        })
        .strict(),
    )
    .mutation(({ ctx, input }) =>
      observed(ctx, 'refund', () =>
        ctx.store.refundJob({
          ...writeBase(ctx, input, 'refund'),
          jobId: input.jobId,
          credits: input.credits,
          reason: input.reason,
        }),
      ),
    ),

  /** Ledger entries, newest first, in stable cursor pages. */
  history: workspaceProcedure('read')
    .input(
      historyFilter
        .extend({
          cursor: cursorSchema.optional(),
          limit: z.number().int().min(1).max(200).default(50),
        })
        .strict(),
    )
    .query(async ({ ctx, input }) => {
      const { member: _m, apiKey: _k, ...query } = input;
      return ctx.store.history({
        ...query,
        actor: await actorFilter(ctx, ctx.caller, input),
        foldJobs: true,
      });
    }),

  /**
   * Spend per wallet per day or week (UTC), for charts. Default: the last 30 days. With
   * `member` or `apiKey`, only theirs; with `groupBy`, also the spend per member or per key
   * (who spent what), adding up to the series.
   */
  summary: workspaceProcedure('read')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          wallet: walletSchema.optional(),
          bucket: z.enum(['day', 'week']).default('day'),
          from: epochMsSchema.optional(),
          to: epochMsSchema.optional(),
          ...whoFields,
          groupBy: z.enum(['member', 'apiKey']).optional(),
        })
        .strict(),
    )
    .query(async ({ ctx, input }) => {
      const to = input.to ?? ctx.now();
      const from = input.from ?? to - 30 * DAY_MS;
      if (from >= to)
        throw new CreditsError('VALIDATION', '`from` must be before `to`.', { field: 'from' });
      if (to - from > 400 * DAY_MS)
        throw new CreditsError('VALIDATION', 'At most 400 days at a time.', { field: 'from' });
      const actor = await actorFilter(ctx, ctx.caller, input);
      const entries = await ctx.store.spendLimits.spendByActor({
        workspaceId: input.workspaceId,
        wallet: input.wallet,
        from,
        to,
        actor,
      });
      const sums = new Map<string, { start: number; wallet: string; spent: number }>();
      for (const e of entries) {
        const start = bucketStart(e.createdAt, input.bucket);
        const key = `${start}:${e.wallet}`;
        const row = sums.get(key) ?? { start, wallet: e.wallet, spent: 0 };
        row.spent += e.amount;
        sums.set(key, row);
      }
      return {
        bucket: input.bucket,
        from,
        to,
        series: [...sums.values()].sort(
          (a, b) => a.start - b.start || a.wallet.localeCompare(b.wallet),
        ),
        groupBy: input.groupBy ?? null,
        groups: input.groupBy
          ? await spendGroups(ctx.store, input.workspaceId, entries, input.groupBy)
          : null,
      };
    }),

  /** Recent jobs with status and cost. */
  jobs: workspaceProcedure('read')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          wallet: walletSchema.optional(),
          status: jobStatusSchema.optional(),
          cursor: cursorSchema.optional(),
          limit: z.number().int().min(1).max(200).default(20),
        })
        .strict(),
    )
    .query(({ ctx, input }) => ctx.store.jobs(input)),
} satisfies TRPCRouterRecord;
