import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { CreditsError, WALLET_KINDS } from '@credits/domain';
import { publicProcedure, userProcedure, type Context } from '../trpc.js';
import { burnPasswordCheck, hashPassword, verifyPassword } from '../auth/password.js';
import { SESSION_TTL_MS, newSessionToken, sha256 } from '../auth/tokens.js';
import { assertStrongPassword } from '../auth/password-strength.js';
import { LOCKOUT, enforceLimit, failureKey, lockedUntil } from '../auth/rate-limit.js';
import { provisionWorkspace } from '../provision.js';

const emailSchema = z
  .email()
  .max(254)
  .transform((e) => e.toLowerCase());
const passwordSchema = z.string().min(10, 'Use at least 10 characters.').max(200);

/** The client's address as the server found it (TRUST_PROXY), or `local` in-process. */
const clientIp = (ctx: Context) => ctx.http?.clientIp ?? 'local';

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
      const now = ctx.now();
      await enforceLimit(ctx.limiter, 'signUpPerAddress', clientIp(ctx), now);
      await assertStrongPassword({
        password: input.password,
        userInputs: [input.email, input.name],
      });
      const plan = await ctx.store.billing.plan('free');
      if (!plan) throw new Error('the Free plan is missing: run seed');
      // Hashed before the email is looked at, so a taken email answers no sooner.
      const passwordHash = await hashPassword(input.password);
      const { user, workspace } = await ctx.store.accounts
        .createAccount({
          email: input.email,
          name: input.name,
          passwordHash,
          workspace: {
            name: input.workspaceName ?? `${input.name}'s workspace`,
            plan: plan.id,
            features: plan.features,
            billingAnchorDay: new Date(now).getUTCDate(),
          },
          wallets: WALLET_KINDS,
          now,
        })
        .catch((e: unknown) => {
          // Said the same way as any other refusal: no "this email has an account".
          if (e instanceof CreditsError && e.reason === 'EMAIL_TAKEN')
            throw new CreditsError(
              'EMAIL_TAKEN',
              'We could not create an account with these details. If you already have one, sign in or reset your password.',
              {},
            );
          throw e;
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

  /**
   * Email and password. Limited per client address and per email (shared by every process),
   * and locked progressively per email after repeated wrong passwords ({@link LOCKOUT}); the
   * account's owner sees the lock on their security page.
   */
  signIn: publicProcedure
    .input(z.object({ email: emailSchema, password: z.string().min(1).max(200) }).strict())
    .mutation(async ({ ctx, input }) => {
      const now = ctx.now();
      await enforceLimit(ctx.limiter, 'signInPerAddress', clientIp(ctx), now);
      await enforceLimit(ctx.limiter, 'signInPerAccount', input.email, now);
      if (ctx.limiter) {
        const failed = await ctx.limiter.peek(failureKey(input.email));
        const until = lockedUntil(failed.count, failed.lastAt);
        if (until !== null && now < until) {
          const minutes = Math.ceil((until - now) / 60_000);
          throw new CreditsError(
            'RATE_LIMITED',
            `Too many failed sign-ins for this account. Try again in ${minutes} minute${minutes === 1 ? '' : 's'}, or reset your password.`,
            { retryAfterSec: Math.ceil((until - now) / 1000) },
          );
        }
      }
      const user = await ctx.store.accounts.userByEmail(input.email);
      const ok = user
        ? await verifyPassword(input.password, user.passwordHash)
        : await burnPasswordCheck(input.password).then(() => false);
      if (!user || !ok) {
        if (ctx.limiter) {
          const { count } = await ctx.limiter.hit(failureKey(input.email), LOCKOUT.windowMs);
          if (user && count === LOCKOUT.freeFailures) {
            await ctx.store.accounts.audit({
              actor: 'system',
              action: 'auth.account_locked',
              target: `user:${user.id}`,
              after: { failures: count },
              reason: 'Repeated wrong passwords: sign-in is slowed down for this account.',
              now,
            });
          }
        }
        throw new CreditsError('UNAUTHORIZED', 'Wrong email or password.');
      }
      if (ctx.limiter) await ctx.limiter.clear(failureKey(input.email));
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
