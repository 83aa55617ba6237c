import type { TRPCRouterRecord } from '@trpc/server';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { CreditsError, WALLET_KINDS } from '@credits/domain';
import { adminProcedure, SCOPES } from '../trpc.js';
import {
  creditsSchema,
  epochMsSchema,
  idSchema,
  idempotencyKeySchema,
  reasonTextSchema,
  walletSchema,
  workspaceIdSchema,
} from '../schemas.js';
import { requestHash } from '../request-hash.js';
import { provisionWorkspace } from '../provision.js';
import { rulesRouter } from './rules.js';
import { newApiKey, sha256 } from '../auth/tokens.js';

const planIdSchema = z.string().regex(/^[a-z0-9_-]{2,40}$/);

export const adminRouter = {
  rules: rulesRouter,
  workspaces: {
    /**
     * Create a workspace with every wallet, this cycle's AI Token allowance and, on a
     * trial-eligible plan, the trial lot (grant keys derive from the workspace: granted once).
     */
    create: adminProcedure
      .input(
        z
          .object({
            id: z
              .string()
              .regex(/^[a-zA-Z0-9_-]{3,64}$/)
              .optional(),
            name: z.string().trim().min(1).max(120),
            plan: planIdSchema.default('free'),
            billingAnchorDay: z.number().int().min(1).max(31).optional(),
            idempotencyKey: idempotencyKeySchema,
          })
          .strict(),
      )
      .mutation(async ({ ctx, input }) => {
        const plan = await ctx.store.billing.plan(input.plan);
        if (!plan || !plan.active)
          throw new CreditsError('NOT_FOUND', `No active plan "${input.plan}".`, {
            plan: input.plan,
          });
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
        const granted = await provisionWorkspace(ctx, workspace);
        return { workspace, trial: granted.trial, allowance: granted.allowance };
      }),

    /** Find workspaces by id, name or a member's email. */
    search: adminProcedure
      .input(
        z
          .object({
            query: z.string().trim().min(1).max(200),
            limit: z.number().int().min(1).max(100).default(20),
          })
          .strict(),
      )
      .query(({ ctx, input }) => ctx.store.accounts.searchWorkspaces(input)),

    /**
     * Change a workspace's plan. An upgrade takes effect at once: the AI Token allowance
     * rises to the new limit less what was used this cycle. A downgrade (a smaller
     * allowance) takes effect at the next reset. Buying a pack never calls this.
     */
    setPlan: adminProcedure
      .input(
        z
          .object({
            workspaceId: workspaceIdSchema,
            plan: planIdSchema,
            reason: reasonTextSchema,
            idempotencyKey: idempotencyKeySchema,
          })
          .strict(),
      )
      .mutation(async ({ ctx, input }) => {
        const workspace = await ctx.store.getWorkspace(input.workspaceId);
        if (!workspace)
          throw new CreditsError('WORKSPACE_NOT_FOUND', 'No such workspace.', {
            workspaceId: input.workspaceId,
          });
        const [from, to] = await Promise.all([
          ctx.store.billing.plan(workspace.plan),
          ctx.store.billing.plan(input.plan),
        ]);
        if (!to || !to.active)
          throw new CreditsError('NOT_FOUND', `No active plan "${input.plan}".`, {
            plan: input.plan,
          });
        const downgrade = from !== null && to.aiTokensPerCycle < from.aiTokensPerCycle;
        // The allowance of the cycle in force must exist before an upgrade tops it up.
        const cycle = await ctx.cycles.ensure(workspace, ctx.now());
        const answer = await ctx.store.billing.changePlan({
          workspaceId: workspace.id,
          plan: to,
          downgrade,
          cycle,
          actor: ctx.caller.id,
          reason: input.reason,
          now: ctx.now(),
          idempotencyKey: input.idempotencyKey,
          requestHash: requestHash('admin.workspaces.setPlan', input),
        });
        ctx.workspaces.forget(workspace.id);
        return answer;
      }),

    /** A workspace with its wallets, lots and recent ledger. */
    get: adminProcedure
      .input(z.object({ workspaceId: workspaceIdSchema }).strict())
      .query(async ({ ctx, input }) => {
        const workspace = await ctx.store.getWorkspace(input.workspaceId);
        if (!workspace)
          throw new CreditsError('WORKSPACE_NOT_FOUND', 'No such workspace.', {
            workspaceId: input.workspaceId,
          });
        const [wallets, lots, ledger, members] = await Promise.all([
          ctx.store.wallets(workspace.id),
          ctx.store.lots({ workspaceId: workspace.id }),
          ctx.store.history({ workspaceId: workspace.id, limit: 50 }),
          ctx.store.accounts.members(workspace.id),
        ]);
        return { workspace, wallets, lots, ledger: ledger.items, members };
      }),
  },

  plans: {
    list: adminProcedure
      .input(
        z
          .object({ includeRetired: z.boolean().default(true) })
          .strict()
          .optional(),
      )
      .query(({ ctx, input }) =>
        ctx.store.billing.plans({ includeRetired: input?.includeRetired ?? true }),
      ),
    /** Create or update a plan (audited). */
    save: adminProcedure
      .input(
        z
          .object({
            id: planIdSchema,
            name: z.string().trim().min(1).max(60),
            aiTokensPerCycle: z.number().int().min(0).max(1_000_000_000),
            priceCents: z.number().int().min(0).max(100_000_000),
            features: z.array(z.string().regex(/^[a-z0-9_]{1,40}$/)).max(20),
            trialEligible: z.boolean(),
            active: z.boolean().default(true),
          })
          .strict(),
      )
      .mutation(async ({ ctx, input }) => {
        await ctx.store.billing.savePlan({
          plan: input,
          now: ctx.now(),
          audit: { actor: ctx.caller.id, action: 'plan.save', target: '' },
        });
        return input;
      }),
    /** Retire a plan: no new workspaces on it; existing ones keep it. */
    retire: adminProcedure
      .input(z.object({ id: planIdSchema }).strict())
      .mutation(async ({ ctx, input }) => {
        const plan = await ctx.store.billing.plan(input.id);
        if (!plan) throw new CreditsError('NOT_FOUND', 'No such plan.', { plan: input.id });
        await ctx.store.billing.savePlan({
          plan: { ...plan, active: false },
          now: ctx.now(),
          audit: { actor: ctx.caller.id, action: 'plan.retire', target: '' },
        });
        return { ...plan, active: false };
      }),
  },

  packs: {
    list: adminProcedure.query(({ ctx }) => ctx.store.billing.packs({ includeInactive: true })),
    /** Create or update a credit pack (audited). */
    save: adminProcedure
      .input(
        z
          .object({
            id: z.string().regex(/^[a-z0-9_-]{2,40}$/),
            wallet: z.enum(['image_credits', 'video_credits', 'ai_tokens']),
            credits: creditsSchema,
            priceCents: z.number().int().min(50).max(100_000_000),
            currency: z
              .string()
              .regex(/^[a-z]{3}$/)
              .default('usd'),
            active: z.boolean().default(true),
          })
          .strict(),
      )
      .mutation(async ({ ctx, input }) => {
        await ctx.store.billing.savePack({
          pack: input,
          now: ctx.now(),
          audit: { actor: ctx.caller.id, action: 'pack.save', target: '' },
        });
        return input;
      }),
  },

  catalog: {
    list: adminProcedure.query(({ ctx }) => ctx.store.billing.catalog()),
    /** Edit a wallet kind: label, used-for line, low threshold, or Coming Soon (available: false). */
    update: adminProcedure
      .input(
        z
          .object({
            kind: walletSchema,
            label: z.string().trim().min(1).max(60).optional(),
            usedFor: z.string().trim().min(1).max(300).optional(),
            available: z.boolean().optional(),
            lowThreshold: z.number().int().min(0).max(1_000_000_000).optional(),
          })
          .strict(),
      )
      .mutation(async ({ ctx, input }) => {
        const { kind, ...patch } = input;
        await ctx.store.billing.updateCatalog({
          kind,
          patch,
          now: ctx.now(),
          audit: { actor: ctx.caller.id, action: 'catalog.update', target: '' },
        });
        return (await ctx.store.billing.catalog()).find((c) => c.kind === kind)!;
      }),
  },

  orders: {
    list: adminProcedure
      .input(
        z
          .object({
            workspaceId: workspaceIdSchema,
            limit: z.number().int().min(1).max(200).default(50),
          })
          .strict(),
      )
      .query(({ ctx, input }) => ctx.store.billing.orders(input)),
    /** Refund a paid order: what is left of its lot is removed; says what was already spent. */
    refund: adminProcedure
      .input(
        z
          .object({
            orderId: idSchema,
            reason: reasonTextSchema,
            idempotencyKey: idempotencyKeySchema,
          })
          .strict(),
      )
      .mutation(({ ctx, input }) =>
        ctx.store.billing.refundOrder({
          orderId: input.orderId,
          actor: ctx.caller.id,
          reason: input.reason,
          now: ctx.now(),
          idempotencyKey: input.idempotencyKey,
          requestHash: requestHash('admin.orders.refund', input),
        }),
      ),
  },

  ledger: {
    /** A signed correction with a required reason; never drives a lot below zero; audited. */
    adjust: adminProcedure
      .input(
        z
          .object({
            workspaceId: workspaceIdSchema,
            wallet: walletSchema,
            amount: z
              .number()
              .int()
              .min(-1_000_000_000)
              .max(1_000_000_000)
              .refine((n) => n !== 0, 'An adjustment is not zero.'),
            reason: reasonTextSchema,
            idempotencyKey: idempotencyKeySchema,
          })
          .strict(),
      )
      .mutation(({ ctx, input }) =>
        ctx.store.billing.adjust({
          ...input,
          actor: ctx.caller.id,
          now: ctx.now(),
          requestHash: requestHash('admin.ledger.adjust', input),
        }),
      ),

    /** Add credits to a wallet as a new lot, with a reason the history shows; audited. */
    grant: adminProcedure
      .input(
        z
          .object({
            workspaceId: workspaceIdSchema,
            wallet: walletSchema,
            amount: creditsSchema,
            // Trial lots come from the trial rules and allowances from the plan, never by hand.
            source: z.enum(['adjustment', 'promo', 'purchase']).default('adjustment'),
            expiresAt: epochMsSchema.optional(),
            reason: reasonTextSchema,
            idempotencyKey: idempotencyKeySchema,
          })
          .strict(),
      )
      .mutation(async ({ ctx, input }) => {
        const now = ctx.now();
        if (input.expiresAt !== undefined && input.expiresAt <= now) {
          throw new CreditsError('VALIDATION', 'expiresAt must be in the future.', {
            field: 'expiresAt',
          });
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
          audit: {
            actor: ctx.caller.id,
            action: 'ledger.grant',
            target: `wallet:${input.workspaceId}/${input.wallet}`,
            workspaceId: input.workspaceId,
            reason: input.reason,
          },
        });
      }),
  },

  keys: {
    /** A service key for an internal service, with scopes. The secret is shown once, here. */
    create: adminProcedure
      .input(
        z
          .object({
            name: z.string().trim().min(1).max(80),
            scopes: z.array(z.enum(SCOPES)).min(1).max(SCOPES.length),
          })
          .strict(),
      )
      .mutation(async ({ ctx, input }) => {
        const { key, prefix } = newApiKey('service');
        const record = await ctx.store.accounts.createApiKey({
          id: `key_${randomUUID().replaceAll('-', '')}`,
          keyHash: sha256(key),
          prefix,
          kind: 'service',
          workspaceId: null,
          scopes: [...new Set(input.scopes)],
          name: input.name,
          createdBy: ctx.caller.id,
          now: ctx.now(),
          audit: { actor: ctx.caller.id, action: 'api_key.create', target: '' },
        });
        return { key, record };
      }),
    list: adminProcedure.query(({ ctx }) => ctx.store.accounts.apiKeys({ kind: 'service' })),
    revoke: adminProcedure
      .input(z.object({ keyId: idSchema }).strict())
      .mutation(async ({ ctx, input }) => ({
        revoked: await ctx.store.accounts.revokeApiKey({
          id: input.keyId,
          workspaceId: null,
          now: ctx.now(),
          audit: { actor: ctx.caller.id, action: 'api_key.revoke', target: '' },
        }),
      })),
  },

  audit: {
    /** Admin actions, key changes, rule publishes and manual grants, newest first. */
    list: adminProcedure
      .input(
        z
          .object({
            actor: z.string().max(200).optional(),
            action: z.string().max(100).optional(),
            workspaceId: workspaceIdSchema.optional(),
            from: epochMsSchema.optional(),
            to: epochMsSchema.optional(),
            beforeId: z.number().int().positive().optional(),
            limit: z.number().int().min(1).max(200).default(50),
          })
          .strict(),
      )
      .query(({ ctx, input }) => ctx.store.accounts.auditLog(input)),
  },
} satisfies TRPCRouterRecord;
