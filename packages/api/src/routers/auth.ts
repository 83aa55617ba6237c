import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { CreditsError, WALLET_KINDS } from '@credits/domain';
import { publicProcedure, userProcedure, type Context } from '../trpc.js';
import { burnPasswordCheck, hashPassword, verifyPassword } from '../auth/password.js';
import { SESSION_TTL_MS, newSessionToken, sha256 } from '../auth/tokens.js';
import { provisionWorkspace } from '../provision.js';

const emailSchema = z
  .email()
  .max(254)
  .transform((e) => e.toLowerCase());
const passwordSchema = z.string().min(10, 'Use at least 10 characters.').max(200);

async function startSession(ctx: Context, userId: string): Promise<void> {
  const token = newSessionToken();
  const now = ctx.now();
  const expiresAt = now + SESSION_TTL_MS;
  await ctx.store.accounts.createSession({ tokenHash: sha256(token), userId, now, expiresAt });
  ctx.http?.setSession(token, expiresAt);
}

export const authRouter = {
  /** Create a person, their workspace (plan allowance and, if eligible, the trial) and a session. */
  signUp: publicProcedure
    .input(
      z
        .object({
          email: emailSchema,
          password: passwordSchema,
          name: z.string().trim().min(1).max(120),
          workspaceName: z.string().trim().min(1).max(120).optional(),
        })
        .strict(),
    )
    .mutation(async ({ ctx, input }) => {
      const plan = await ctx.store.billing.plan('free');
      if (!plan) throw new Error('the Free plan is missing: run seed');
      const now = ctx.now();
      const { user, workspace } = await ctx.store.accounts.createAccount({
        email: input.email,
        name: input.name,
        passwordHash: await hashPassword(input.password),
        workspace: {
          name: input.workspaceName ?? `${input.name}'s workspace`,
          plan: plan.id,
          features: plan.features,
          billingAnchorDay: new Date(now).getUTCDate(),
        },
        wallets: WALLET_KINDS,
        now,
      });
      await provisionWorkspace(ctx, workspace);
      await startSession(ctx, user.id);
      return {
        user,
        workspace: {
          id: workspace.id,
          name: workspace.name,
          plan: workspace.plan,
          role: 'owner' as const,
        },
      };
    }),

  /** Email and password; attempts are rate-limited per address and per client. */
  signIn: publicProcedure
    .input(z.object({ email: emailSchema, password: z.string().min(1).max(200) }).strict())
    .mutation(async ({ ctx, input }) => {
      if (ctx.limiter) {
        const ip = ctx.http?.clientIp ?? 'local';
        const allowed =
          (await ctx.limiter.consume(`email:${input.email}`)) &&
          (await ctx.limiter.consume(`ip:${ip}`));
        if (!allowed)
          throw new CreditsError(
            'RATE_LIMITED',
            'Too many sign-in attempts. Try again in a minute.',
          );
      }
      const user = await ctx.store.accounts.userByEmail(input.email);
      if (!user) {
        await burnPasswordCheck(input.password);
        throw new CreditsError('UNAUTHORIZED', 'Wrong email or password.');
      }
      if (!(await verifyPassword(input.password, user.passwordHash))) {
        throw new CreditsError('UNAUTHORIZED', 'Wrong email or password.');
      }
      await startSession(ctx, user.id);
      const { passwordHash: _secret, ...safe } = user;
      return { user: safe };
    }),

  /** Revoke this session for good (the cookie is cleared too). */
  signOut: userProcedure.input(z.object({}).strict().optional()).mutation(async ({ ctx }) => {
    if (ctx.user.sessionTokenHash) {
      await ctx.store.accounts.revokeSession({
        tokenHash: ctx.user.sessionTokenHash,
        now: ctx.now(),
      });
    }
    ctx.http?.clearSession();
    return { ok: true as const };
  }),

  /** The signed-in person and the workspaces they belong to. */
  me: userProcedure.query(async ({ ctx }) => {
    const [user, workspaces] = await Promise.all([
      ctx.store.accounts.user(ctx.user.userId),
      ctx.store.accounts.memberships(ctx.user.userId),
    ]);
    if (!user) throw new CreditsError('UNAUTHORIZED', 'This account no longer exists.');
    return { user, workspaces };
  }),
} satisfies TRPCRouterRecord;
