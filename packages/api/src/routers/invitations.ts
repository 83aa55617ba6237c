import type { TRPCRouterRecord } from '@trpc/server';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { CreditsError } from '@credits/domain';
import type { InvitationRecord } from '@credits/store';
import { publicProcedure, userProcedure, workspaceProcedure } from '../trpc.js';
import { idSchema, workspaceIdSchema } from '../schemas.js';
import { newSessionToken, sha256 } from '../auth/tokens.js';
import { loadWorkspace } from '../workspace-cache.js';

/** An invitation link works this long, once. */
export const INVITATION_TTL_MS = 7 * 24 * 3600 * 1000;

/** How an invitation token is stored (its own namespace: no session or reset token matches it). */
export const invitationTokenHash = (token: string) => sha256(`invite:${token}`);

/** The path of the page that accepts an invitation; the web app adds its own origin. */
const invitationPath = (token: string) => `/invite/${token}`;

const emailSchema = z
  .email()
  .max(254)
  .transform((e) => e.toLowerCase());
const tokenSchema = z.string().min(20).max(200);

export type InvitationStatus = 'pending' | 'accepted' | 'revoked' | 'expired';
function statusOf(i: InvitationRecord, now: number): InvitationStatus {
  if (i.acceptedAt !== null) return 'accepted';
  if (i.revokedAt !== null) return 'revoked';
  return i.expiresAt <= now ? 'expired' : 'pending';
}

/** No mail is configured in this product: the owner hands the link over. */
const DELIVERY = 'link' as const;

export const invitationsRouter = {
  /** The workspace's invitations, newest first, with their status. */
  list: workspaceProcedure('owner')
    .input(z.object({ workspaceId: workspaceIdSchema }).strict())
    .query(async ({ ctx, input }) => {
      const now = ctx.now();
      const rows = await ctx.store.accounts.invitations(input.workspaceId);
      return rows.map((i) => ({ ...i, status: statusOf(i, now) }));
    }),

  /**
   * Invite someone by email: a single-use link valid 7 days, returned here for the owner to
   * hand over (no mail is configured). An earlier live invitation of the same email is revoked.
   */
  create: workspaceProcedure('owner')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          email: emailSchema,
          role: z.enum(['owner', 'member']).default('member'),
        })
        .strict(),
    )
    .mutation(async ({ ctx, input }) => {
      await loadWorkspace(ctx.store, input.workspaceId);
      const members = await ctx.store.accounts.members(input.workspaceId);
      if (members.some((m) => m.email.toLowerCase() === input.email))
        throw new CreditsError(
          'VALIDATION',
          `${input.email} is already a member of this workspace.`,
          {
            field: 'email',
          },
        );
      const token = newSessionToken();
      const now = ctx.now();
      const invitation = await ctx.store.accounts.createInvitation({
        id: `inv_${randomUUID().replaceAll('-', '')}`,
        workspaceId: input.workspaceId,
        email: input.email,
        role: input.role,
        createdBy: ctx.caller.id,
        createdAt: now,
        expiresAt: now + INVITATION_TTL_MS,
        tokenHash: invitationTokenHash(token),
        now,
        audit: {
          actor: ctx.caller.id,
          action: 'workspace.invitation.create',
          target: '',
          workspaceId: input.workspaceId,
        },
      });
      return {
        invitation: { ...invitation, status: 'pending' as const },
        path: invitationPath(token),
        delivery: DELIVERY,
      };
    }),

  /** A new link (and 7 more days) for a live invitation; the previous link stops working. */
  resend: workspaceProcedure('owner')
    .input(z.object({ workspaceId: workspaceIdSchema, invitationId: idSchema }).strict())
    .mutation(async ({ ctx, input }) => {
      const token = newSessionToken();
      const now = ctx.now();
      const invitation = await ctx.store.accounts.reissueInvitation({
        id: input.invitationId,
        workspaceId: input.workspaceId,
        tokenHash: invitationTokenHash(token),
        expiresAt: now + INVITATION_TTL_MS,
        now,
        audit: {
          actor: ctx.caller.id,
          action: 'workspace.invitation.resend',
          target: '',
          workspaceId: input.workspaceId,
        },
      });
      if (!invitation)
        throw new CreditsError(
          'NOT_FOUND',
          'No open invitation with this id in this workspace (accepted or revoked ones cannot be resent).',
          {},
        );
      return {
        invitation: { ...invitation, status: 'pending' as const },
        path: invitationPath(token),
        delivery: DELIVERY,
      };
    }),

  revoke: workspaceProcedure('owner')
    .input(z.object({ workspaceId: workspaceIdSchema, invitationId: idSchema }).strict())
    .mutation(async ({ ctx, input }) => ({
      revoked: await ctx.store.accounts.revokeInvitation({
        id: input.invitationId,
        workspaceId: input.workspaceId,
        now: ctx.now(),
        audit: {
          actor: ctx.caller.id,
          action: 'workspace.invitation.revoke',
          target: '',
          workspaceId: input.workspaceId,
        },
      }),
    })),

  /** What a link invites to, for the page that accepts it (anyone holding the link). */
  preview: publicProcedure
    .input(z.object({ token: tokenSchema }).strict())
    .query(async ({ ctx, input }) => {
      const i = await ctx.store.accounts.invitationByToken(invitationTokenHash(input.token));
      if (!i)
        return {
          status: 'invalid' as const,
          workspaceName: null,
          invitedBy: null,
          email: null,
          role: null,
          expiresAt: null,
        };
      return {
        status: statusOf(i, ctx.now()) as InvitationStatus | 'invalid',
        workspaceName: i.workspaceName,
        invitedBy: i.invitedBy,
        email: i.email,
        role: i.role,
        expiresAt: i.expiresAt,
      };
    }),

  /** The signed-in person joins with the invitation's role; the link works once. */
  accept: userProcedure
    .input(z.object({ token: tokenSchema }).strict())
    .mutation(async ({ ctx, input }) => {
      const tokenHash = invitationTokenHash(input.token);
      const joined = await ctx.store.accounts.acceptInvitation({
        tokenHash,
        userId: ctx.user.userId,
        email: ctx.user.email.toLowerCase(),
        now: ctx.now(),
      });
      if (joined) return joined;
      const i = await ctx.store.accounts.invitationByToken(tokenHash);
      if (i && statusOf(i, ctx.now()) === 'pending')
        throw new CreditsError(
          'FORBIDDEN',
          `This invitation is for ${i.email}. Sign in with that email to accept it.`,
          {},
        );
      throw new CreditsError(
        'VALIDATION',
        'This invitation link is not valid: it was used already, has expired, was revoked, or a newer one was sent.',
        { field: 'token' },
      );
    }),
} satisfies TRPCRouterRecord;
