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
  lotSourceSchema,
  reasonTextSchema,
  walletSchema,
  workspaceIdSchema,
} from '../schemas.js';
import { requestHash } from '../request-hash.js';
import { provisionWorkspace } from '../provision.js';
import { newApiKey, sha256 } from '../auth/tokens.js';

const planIdSchema = z.string().regex(/^[a-z0-9_-]{2,40}$/);

export const adminRouter = {
  workspaces: {
    /**
     * Create a workspace with every wallet, this cycle's AI Token allowance and, on a
     * trial-eligible plan, the trial lot (grant keys derive from the workspace: granted once).
     */
    create: adminProcedure
      .input(
        z
          .object({
            id: z.string().regex(/^[a-zA-Z0-9_-]{3,64}$/).optional(),
            name: z.string().trim().min(1).max(120),
            plan: planIdSchema.default('free'),
            billingAnchorDay: z.number().int().min(1).max(31).optional(),
            idempotencyKey: idempotencyKeySchema,
          })
          .strict(),
      )
      .mutation(async ({ ctx, input }) => {
        const plan = await ctx.store.billing.plan(input.plan);
        if (!plan || !plan.active) throw new CreditsError('NOT_FOUND', `No active plan "${input.plan}".`, { plan: input.plan });
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

    /** A workspace with its wallets, lots and recent ledger. */
    get: adminProcedure.input(z.object({ workspaceId: workspaceIdSchema }).strict()).query(async ({ ctx, input }) => {
      const workspace = await ctx.store.getWorkspace(input.workspaceId);
      if (!workspace) throw new CreditsError('WORKSPACE_NOT_FOUND', 'No such workspace.', { workspaceId: input.workspaceId });
      const [wallets, lots, ledger, members] = await Promise.all([
        ctx.store.wallets(workspace.id),
        ctx.store.lots({ workspaceId: workspace.id }),
        ctx.store.history({ workspaceId: workspace.id, limit: 50 }),
        ctx.store.accounts.members(workspace.id),
      ]);
      return { workspace, wallets, lots, ledger: ledger.items, members };
    }),
  },

  ledger: {
    /** Add credits to a wallet as a new lot, with a reason the history shows; audited. */
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
    revoke: adminProcedure.input(z.object({ keyId: idSchema }).strict()).mutation(async ({ ctx, input }) => ({
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


