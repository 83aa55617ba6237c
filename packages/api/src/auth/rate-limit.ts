import { CreditsError } from '@credits/domain';
import type { Store } from '@credits/store';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * Counts events per key in fixed windows, shared by every server process on one database
 * (`rate_limits`, one atomic upsert-increment per hit). The server puts one in the context;
 * without one (in-process callers, tests), procedures apply no limits.
 */
export interface RateLimiter {
  /** Count one event; the count includes it. */
  hit(key: string, windowMs: number): Promise<{ count: number; resetAt: number }>;
  /** The count in the key's current window, and the last event's time. */
  peek(key: string): Promise<{ count: number; lastAt: number | null }>;
  clear(key: string): Promise<void>;
}

/** A {@link RateLimiter} over the store's `rate_limits` table. */
export function storeRateLimiter(store: Store, now: () => number): RateLimiter {
  return {
    hit: (key, windowMs) => store.accounts.hitRateLimit({ key, windowMs, now: now() }),
    peek: (key) => store.accounts.rateLimitCount({ key, now: now() }),
    clear: (key) => store.accounts.clearRateLimit(key),
  };
}

/** The allowances: `limit` events per `windowMs` per subject. */
export const LIMITS = {
  /** Sign-in attempts for one email, right or wrong. */
  signInPerAccount: { limit: 10, windowMs: 15 * MINUTE },
  /** Sign-in attempts from one client address, any email. */
  signInPerAddress: { limit: 30, windowMs: 15 * MINUTE },
  /** Accounts created from one client address. */
  signUpPerAddress: { limit: 5, windowMs: HOUR },
  /** Reset tokens tried from one client address. */
  resetPerAddress: { limit: 10, windowMs: HOUR },
} as const;

/**
 * Progressive lockout per account: after `freeFailures` wrong passwords in a day, each further
 * attempt waits `firstLockMs`, doubling per failure up to `maxLockMs`. A right password (or a
 * reset) clears the count. Unknown emails are counted the same way, so the lock says nothing
 * about whether an account exists.
 */
export const LOCKOUT = {
  freeFailures: 5,
  firstLockMs: MINUTE,
  maxLockMs: HOUR,
  windowMs: DAY,
} as const;

export type LimitName = keyof typeof LIMITS;

/** Count one event against `name` for `subject`; over the allowance, RATE_LIMITED. */
export async function enforceLimit(
  limiter: RateLimiter | undefined,
  name: LimitName,
  subject: string,
  now: number,
): Promise<void> {
  if (!limiter) return;
  const { limit, windowMs } = LIMITS[name];
  const { count, resetAt } = await limiter.hit(`${name}:${subject}`, windowMs);
  if (count > limit) {
    const retryAfterSec = Math.max(1, Math.ceil((resetAt - now) / 1000));
    throw new CreditsError('RATE_LIMITED', 'Too many attempts. Try again later.', {
      retryAfterSec,
    });
  }
}

/** The key that counts an account's failed sign-ins. */
export const failureKey = (email: string) => `signInFailures:${email}`;

/** Until when this account is locked after `failures` failures, the last at `lastAt`. */
export function lockedUntil(failures: number, lastAt: number | null): number | null {
  if (failures < LOCKOUT.freeFailures || lastAt === null) return null;
  const wait = Math.min(
    LOCKOUT.maxLockMs,
    LOCKOUT.firstLockMs * 2 ** (failures - LOCKOUT.freeFailures),
  );
  return lastAt + wait;
}
