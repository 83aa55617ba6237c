import type { TRPCRouterRecord } from '@trpc/server';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { CreditsError } from '@credits/domain';
import { workspaceProcedure } from '../trpc.js';
import { idSchema, workspaceIdSchema } from '../schemas.js';
import { newApiKey, sha256 } from '../auth/tokens.js';
import { loadWorkspace } from '../workspace-cache.js';

const WORKSPACE_KEY_SCOPES = ['wallets:read', 'usage:write'] as const;

export const workspacesRouter = {
  /** The workspace, and the caller's role in it. */
  get: workspaceProcedure('read')
    .input(z.object({ workspaceId: workspaceIdSchema }).strict())
    .query(async ({ ctx, input }) => ({
      workspace: await loadWorkspace(ctx.store, input.workspaceId),
      role: ctx.role,
    })),

  members: workspaceProcedure('read')
    .input(z.object({ workspaceId: workspaceIdSchema }).strict())
    .query(({ ctx, input }) => ctx.store.accounts.members(input.workspaceId)),

  /** Owners add an existing user as a member or owner. */
  addMember: workspaceProcedure('owner')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          email: z.email().max(254),
          role: z.enum(['owner', 'member']).default('member'),
        })
        .strict(),
    )
    .mutation(async ({ ctx, input }) => {
      // An admin passes the access check for any id: a missing workspace is NOT_FOUND, not a foreign-key crash.
      await loadWorkspace(ctx.store, input.workspaceId);
      const user = await ctx.store.accounts.userByEmail(input.email);
      if (!user)
        throw new CreditsError(
          'NOT_FOUND',
          'No account with this email; ask them to sign up first.',
        );
      await ctx.store.accounts.addMember({
        workspaceId: input.workspaceId,
        userId: user.id,
        role: input.role,
        now: ctx.now(),
        audit: {
          actor: ctx.caller.id,
          action: 'workspace.member.add',
          target: `user:${user.id}`,
          workspaceId: input.workspaceId,
        },
      });
      return { userId: user.id, role: input.role };
    }),

  /** Owners change a member's role; the last owner cannot step down (FORBIDDEN). */
  setRole: workspaceProcedure('owner')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          userId: idSchema,
          role: z.enum(['owner', 'member']),
        })
        .strict(),
    )
    .mutation(async ({ ctx, input }) => {
      const members = await ctx.store.accounts.members(input.workspaceId);
      const member = members.find((m) => m.userId === input.userId);
      if (!member) throw new CreditsError('NOT_FOUND', 'No such member in this workspace.', {});
      if (member.role === input.role) return { userId: input.userId, role: input.role };
      await ctx.store.accounts.addMember({
        workspaceId: input.workspaceId,
        userId: input.userId,
        role: input.role,
        now: ctx.now(),
        audit: {
          actor: ctx.caller.id,
          action: 'workspace.member.role',
          target: `user:${input.userId}`,
          workspaceId: input.workspaceId,
          before: { role: member.role },
        },
      });
      return { userId: input.userId, role: input.role };
    }),

  removeMember: workspaceProcedure('owner')
    .input(z.object({ workspaceId: workspaceIdSchema, userId: idSchema }).strict())
    .mutation(async ({ ctx, input }) => ({
      removed: await ctx.store.accounts.removeMember({
        workspaceId: input.workspaceId,
        userId: input.userId,
        now: ctx.now(),
        audit: {
          actor: ctx.caller.id,
          action: 'workspace.member.remove',
          target: `user:${input.userId}`,
          workspaceId: input.workspaceId,
        },
      }),
    })),

  keys: {
    /** A key that acts on this workspace only. The secret is shown once, here. */
    create: workspaceProcedure('owner')
      .input(
        z
          .object({
            workspaceId: workspaceIdSchema,
            name: z.string().trim().min(1).max(80),
            scopes: z
              .array(z.enum(WORKSPACE_KEY_SCOPES))
              .min(1)
              .max(2)
              .default(['wallets:read', 'usage:write']),
          })
          .strict(),
      )
      .mutation(async ({ ctx, input }) => {
        await loadWorkspace(ctx.store, input.workspaceId);
        const { key, prefix } = newApiKey('workspace');
        const record = await ctx.store.accounts.createApiKey({
          id: `key_${randomUUID().replaceAll('-', '')}`,
          keyHash: sha256(key),
          prefix,
          kind: 'workspace',
          workspaceId: input.workspaceId,
          scopes: [...new Set(input.scopes)],
          name: input.name,
          createdBy: ctx.caller.id,
          now: ctx.now(),
          audit: {
            actor: ctx.caller.id,
            action: 'api_key.create',
            target: '',
            workspaceId: input.workspaceId,
          },
        });
        return { key, record };
      }),

    /** Every key of the workspace (revoked too), with its last use and what its jobs spent. */
    list: workspaceProcedure('owner')
      .input(z.object({ workspaceId: workspaceIdSchema }).strict())
      .query(async ({ ctx, input }) => {
        const [keys, spend] = await Promise.all([
          ctx.store.accounts.apiKeys({ workspaceId: input.workspaceId }),
          ctx.store.accounts.apiKeySpend({ workspaceId: input.workspaceId }),
        ]);
        return keys.map((k) => ({
          ...k,
          spend: spend
            .filter((s) => s.keyId === k.id)
            .map((s) => ({ wallet: s.wallet, spent: s.spent })),
        }));
      }),

    revoke: workspaceProcedure('owner')
      .input(z.object({ workspaceId: workspaceIdSchema, keyId: idSchema }).strict())
      .mutation(async ({ ctx, input }) => ({
        revoked: await ctx.store.accounts.revokeApiKey({
          id: input.keyId,
          workspaceId: input.workspaceId,
          now: ctx.now(),
          audit: {
            actor: ctx.caller.id,
            action: 'api_key.revoke',
            target: '',
            workspaceId: input.workspaceId,
          },
        }),
      })),
  },
} satisfies TRPCRouterRecord;
