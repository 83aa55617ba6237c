import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { CreditsError, WALLET_KINDS } from '@credits/domain';
import { publicProcedure, userProcedure, type Context } from '../trpc.js';
import { burnPasswordCheck, hashPassword, verifyPassword } from '../auth/password.js';
import { SESSION_TTL_MS, newSessionToken, sha256 } from '../auth/tokens.js';
import { assertStrongPassword } from '../auth/password-strength.js';
import { LOCKOUT, enforceLimit, failureKey, lockedUntil } from '../auth/rate-limit.js';
import { provisionWorkspace } from '../provision.js';
import { resetTokenHash } from '../auth/password-reset.js';

/** A session's public id: derived from its stored hash, never the token or the hash itself. */
const sessionId = (tokenHash: string) => sha256(`session-id:${tokenHash}`).slice(0, 22);

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
  await ctx.store.accounts.createSession({
    tokenHash: sha256(token),
    userId,
    now,
    expiresAt,
    userAgent: ctx.http?.userAgent ?? null,
  });
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

  /** This person's live sessions (newest first); `current` marks the one asking. */
  sessions: userProcedure.query(async ({ ctx }) => {
    const sessions = await ctx.store.accounts.userSessions({
      userId: ctx.user.userId,
      now: ctx.now(),
    });
    return {
      sessions: sessions.map((s) => ({
        id: sessionId(s.tokenHash),
        createdAt: s.createdAt,
        expiresAt: s.expiresAt,
        userAgent: s.userAgent,
        current: s.tokenHash === ctx.user.sessionTokenHash,
      })),
    };
  }),

  /** Sign out one of this person's sessions (another device) by its id from `sessions`. */
  revokeSession: userProcedure
    .input(z.object({ id: z.string().min(1).max(64) }).strict())
    .mutation(async ({ ctx, input }) => {
      const now = ctx.now();
      const sessions = await ctx.store.accounts.userSessions({ userId: ctx.user.userId, now });
      const target = sessions.find((s) => sessionId(s.tokenHash) === input.id);
      if (!target) throw new CreditsError('NOT_FOUND', 'No such session.', { id: input.id });
      await ctx.store.accounts.revokeUserSessions({
        userId: ctx.user.userId,
        now,
        only: target.tokenHash,
      });
      if (target.tokenHash === ctx.user.sessionTokenHash) ctx.http?.clearSession();
      return { revoked: true as const };
    }),

  /** Sign out every session of this person, this one included. */
  signOutEverywhere: userProcedure
    .input(z.object({}).strict().optional())
    .mutation(async ({ ctx }) => {
      const now = ctx.now();
      const revoked = await ctx.store.accounts.revokeUserSessions({
        userId: ctx.user.userId,
        now,
      });
      await ctx.store.accounts.audit({
        actor: ctx.user.id,
        action: 'auth.signed_out_everywhere',
        target: `user:${ctx.user.userId}`,
        after: { sessionsRevoked: revoked },
        now,
      });
      ctx.http?.clearSession();
      return { revoked };
    }),

  /**
   * Change this person's password: the current one is checked (counted like a sign-in), the
   * new one must be strong, and every other session is signed out.
   */
  changePassword: userProcedure
    .input(
      z
        .object({ currentPassword: z.string().min(1).max(200), newPassword: passwordSchema })
        .strict(),
    )
    .mutation(async ({ ctx, input }) => {
      const now = ctx.now();
      await enforceLimit(ctx.limiter, 'signInPerAccount', ctx.user.email, now);
      const user = await ctx.store.accounts.userByEmail(ctx.user.email);
      if (!user || !(await verifyPassword(input.currentPassword, user.passwordHash)))
        throw new CreditsError('VALIDATION', 'The current password is not right.', {
          field: 'currentPassword',
        });
      await assertStrongPassword({
        password: input.newPassword,
        userInputs: [user.email, user.name],
      });
      await ctx.store.accounts.setPassword({
        userId: user.id,
        passwordHash: await hashPassword(input.newPassword),
        keepSession: ctx.user.sessionTokenHash,
        now,
        audit: { actor: ctx.user.id, action: 'auth.password_changed', target: '' },
      });
      return { ok: true as const };
    }),

  /**
   * Set a new password with a reset token (from `credits auth reset-link`): valid 30 minutes,
   * once. Every session of the account is signed out and a new one starts here; the
   * account's failed sign-ins are forgotten.
   */
  resetPassword: publicProcedure
    .input(z.object({ token: z.string().min(20).max(200), newPassword: passwordSchema }).strict())
    .mutation(async ({ ctx, input }) => {
      const now = ctx.now();
      await enforceLimit(ctx.limiter, 'resetPerAddress', clientIp(ctx), now);
      await assertStrongPassword({ password: input.newPassword });
      const user = await ctx.store.accounts.redeemPasswordReset({
        tokenHash: resetTokenHash(input.token),
        passwordHash: await hashPassword(input.newPassword),
        now,
      });
      if (!user)
        throw new CreditsError(
          'VALIDATION',
          'This reset link is not valid: it was used already, has expired, or a newer one was made.',
          { field: 'token' },
        );
      if (ctx.limiter) await ctx.limiter.clear(failureKey(user.email));
      await startSession(ctx, user.id);
      return { user };
    }),

  /** Recent security events of this person's account (lockouts, password changes, resets). */
  securityEvents: userProcedure.query(async ({ ctx }) => {
    const events = await ctx.store.accounts.securityEvents({
      userId: ctx.user.userId,
      limit: 20,
    });
    return {
      events: events.map((e) => ({
        id: e.id,
        action: e.action,
        actor: e.actor,
        reason: e.reason,
        createdAt: e.createdAt,
      })),
    };
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
