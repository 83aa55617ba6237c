import type { WalletKind } from './wallets.js';

/**
 * Spend controls (SPEC 15), the pure part: spending limits and their arithmetic, alert
 * thresholds, and the auto top-up terms a person consents to. No I/O, no clock: the store
 * and the API bring the numbers.
 */

/** Whom a limit applies to: the whole workspace, one member (user id) or one API key (key id). */
export const LIMIT_SCOPES = ['workspace', 'member', 'key'] as const;
export type LimitScope = (typeof LIMIT_SCOPES)[number];

/** `hard` refuses a job that would go over; `soft` only alerts. */
export const LIMIT_MODES = ['hard', 'soft'] as const;
export type LimitMode = (typeof LIMIT_MODES)[number];

/** Alert thresholds, in percent of the limit, when the owner sets none. */
export const DEFAULT_LIMIT_THRESHOLDS: readonly number[] = [50, 80, 100];
/** At most this many thresholds per limit. */
export const MAX_LIMIT_THRESHOLDS = 5;
/** The largest limit an owner may set (credits), far below 2^53. */
export const MAX_LIMIT_CREDITS = 1_000_000_000_000;

/** What the owner sets on one limit. */
export interface SpendLimitRule {
  scope: LimitScope;
  /** The member's user id or the key's id; null for the workspace. */
  subjectId: string | null;
  /** Credits per billing cycle. */
  amount: number;
  mode: LimitMode;
  /** Percentages (1–100), ascending, no duplicates. */
  thresholds: readonly number[];
}

/** A limit with what counts against it this cycle. */
export interface LimitUsage extends SpendLimitRule {
  /** Credits spent this cycle by the jobs the limit covers. */
  used: number;
  /** Credits held now by open holds the limit covers. */
  held: number;
}

/** Thresholds as stored: ascending, each a whole percent 1–100, no duplicates; null when invalid. */
export function normalizeThresholds(input: readonly number[]): number[] | null {
  if (input.length > MAX_LIMIT_THRESHOLDS) return null;
  if (input.some((t) => !Number.isInteger(t) || t < 1 || t > 100)) return null;
  const sorted = [...new Set(input)].sort((a, b) => a - b);
  return sorted.length === input.length ? sorted : null;
}

/** Credits a limit still allows this cycle (never below zero). */
export function headroom(limit: { amount: number; used: number; held: number }): number {
  return Math.max(0, limit.amount - limit.used - limit.held);
}

/** Does a job of `needed` credits fit under this limit (soft limits always fit)? */
export function fitsLimit(
  limit: { amount: number; mode: LimitMode; used: number; held: number },
  needed: number,
): boolean {
  return limit.mode === 'soft' || limit.used + limit.held + needed <= limit.amount;
}

/**
 * The thresholds (percent) a limit crosses when what counts against it goes from `before` to
 * `after` credits: each `t` with before < t % of the amount ≤ after. Integer arithmetic
 * (100 × credits against t × amount), so no rounding decides an alert.
 */
export function thresholdsCrossed(input: {
  amount: number;
  thresholds: readonly number[];
  before: number;
  after: number;
}): number[] {
  const { amount, before, after } = input;
  if (after <= before) return [];
  return input.thresholds.filter((t) => 100 * before < t * amount && t * amount <= 100 * after);
}

/** Why a job is refused: the limit it does not fit, as the API reports it. */
export interface LimitRefusal {
  scope: LimitScope;
  subjectId: string | null;
  limit: number;
  used: number;
  held: number;
  needed: number;
}

/**
 * Check a job of `needed` credits against every limit that applies to it. A job must fit all
 * hard limits; when it does not, the refusal names the tightest one it breaks (least
 * headroom, the workspace's first on a tie), so "a lower workspace limit wins". Soft limits
 * never refuse. On success, the thresholds each limit crosses (for alerts).
 */
export function checkLimits(input: {
  limits: readonly LimitUsage[];
  needed: number;
}):
  | { ok: true; crossed: { limit: LimitUsage; thresholds: number[] }[] }
  | { ok: false; refusal: LimitRefusal } {
  const { needed } = input;
  let worst: LimitUsage | null = null;
  for (const l of input.limits) {
    if (fitsLimit(l, needed)) continue;
    if (
      worst === null ||
      headroom(l) < headroom(worst) ||
      (headroom(l) === headroom(worst) && SCOPE_ORDER[l.scope] < SCOPE_ORDER[worst.scope])
    ) {
      worst = l;
    }
  }
  if (worst) {
    return {
      ok: false,
      refusal: {
        scope: worst.scope,
        subjectId: worst.subjectId,
        limit: worst.amount,
        used: worst.used,
        held: worst.held,
        needed,
      },
    };
  }
  const crossed = input.limits.flatMap((limit) => {
    const before = limit.used + limit.held;
    const thresholds = thresholdsCrossed({
      amount: limit.amount,
      thresholds: limit.thresholds,
      before,
      after: before + needed,
    });
    return thresholds.length > 0 ? [{ limit, thresholds }] : [];
  });
  return { ok: true, crossed };
}

const SCOPE_ORDER: Record<LimitScope, number> = { workspace: 0, member: 1, key: 2 };

/** What a refused caller is offered: owners can raise the limit, members ask an owner. */
export type LimitAction = 'raise_limit' | 'ask_owner';
export function limitActionFor(role: 'owner' | 'member' | null, isAdmin: boolean): LimitAction {
  return role === 'owner' || isAdmin ? 'raise_limit' : 'ask_owner';
}

// ------------------------------------------------------------------ auto top-up

/** Three failed payments in a row turn auto top-up off. */
export const AUTO_TOP_UP_MAX_FAILURES = 3;

/**
 * An amount in the currency's smallest unit as money, e.g. `formatMoney({ amountMinor: 500,
 * currency: 'usd' })` is `$5.00`. The decimal point is placed in the string, so no float ever
 * holds the amount.
 */
export function formatMoney(input: { amountMinor: number; currency: string }): string {
  const format = new Intl.NumberFormat('en-US', {
    style: 'currency',
    currency: input.currency.toUpperCase(),
  });
  const digits = format.resolvedOptions().maximumFractionDigits ?? 2;
  const sign = input.amountMinor < 0 ? '-' : '';
  const units = String(Math.abs(input.amountMinor)).padStart(digits + 1, '0');
  const whole = units.slice(0, units.length - digits);
  const decimal = digits > 0 ? `${whole}.${units.slice(units.length - digits)}` : whole;
  return format.format(`${sign}${decimal}` as Intl.StringNumericLiteral);
}

/**
 * The terms an owner agrees to when turning auto top-up on. The server makes this text, the
 * app shows it, the owner's acceptance sends it back, and the consent stores it word for word.
 */
export function autoTopUpTerms(input: {
  walletLabel: string;
  threshold: number;
  packCredits: number;
  priceCents: number;
  currency: string;
  monthlyCapCents: number;
}): string {
  const n = (x: number) => x.toLocaleString('en-US');
  const price = formatMoney({ amountMinor: input.priceCents, currency: input.currency });
  const cap = formatMoney({ amountMinor: input.monthlyCapCents, currency: input.currency });
  return (
    `When your ${input.walletLabel} balance falls below ${n(input.threshold)}, ` +
    `we will charge your saved payment method ${price} for ${n(input.packCredits)} ${input.walletLabel}, ` +
    `at most ${cap} per billing cycle. Three failed payments in a row turn auto top-up off. ` +
    `You can turn it off at any time on Billing & Usage.`
  );
}

/** Can one more purchase of `priceCents` be made this cycle without going over the cap? */
export function withinMonthlyCap(input: {
  spentCents: number;
  priceCents: number;
  capCents: number;
}): boolean {
  return input.spentCents + input.priceCents <= input.capCents;
}

/** The wallets an owner can buy packs for (and so turn auto top-up on for). */
export function isPurchasable(kind: WalletKind, packs: readonly { wallet: WalletKind }[]): boolean {
  return packs.some((p) => p.wallet === kind);
}
