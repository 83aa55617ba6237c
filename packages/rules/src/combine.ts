import type { Job } from './job.js';
import type { BreakdownLine, Unavailable } from './types.js';

/**
 * Units a `rate` event can multiply by. The quantity comes from the job:
 * `second` → durationSec, `image` → count, `token` → tokens, `1k_tokens` → ⌈tokens / 1000⌉,
 * `reference_image` → options.referenceImages (0 when absent).
 */
export const RATE_UNITS = ['second', 'image', 'token', '1k_tokens', 'reference_image'] as const;
export type RateUnit = (typeof RATE_UNITS)[number];

export const UNAVAILABLE_REASONS = ['FEATURE_UNAVAILABLE', 'COMING_SOON'] as const;
export type UnavailableReason = (typeof UNAVAILABLE_REASONS)[number];

export const EVENT_TYPES = ['rate', 'flat', 'multiplier', 'minimum', 'unavailable'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Events as a rule document writes them (and as json-rules-engine emits them). */
export type RuleEvent =
  | { type: 'rate'; params: { perUnit: number; unit: RateUnit; label: string } }
  | { type: 'flat'; params: { credits: number; label: string } }
  | { type: 'multiplier'; params: { factor: number; label: string } }
  | { type: 'minimum'; params: { credits: number; label?: string | undefined } }
  | { type: 'unavailable'; params: { reason: UnavailableReason; message: string } };

/** Events ready for the combiner: multiplier factors as integer basis points. */
export type CombinerEvent =
  | {
      readonly type: 'rate';
      readonly perUnit: number;
      readonly unit: RateUnit;
      readonly label: string;
    }
  | { readonly type: 'flat'; readonly credits: number; readonly label: string }
  | { readonly type: 'multiplier'; readonly bps: number; readonly label: string }
  | { readonly type: 'minimum'; readonly credits: number; readonly label: string }
  | { readonly type: 'unavailable'; readonly reason: UnavailableReason; readonly message: string };

export type CombineResult =
  { ok: true; credits: number; breakdown: BreakdownLine[] } | Omit<Unavailable, 'ruleVersion'>;

/** 1.0 as basis points: multiplier factors are exact to 1/10,000. */
export const BPS_ONE = 10_000;

/** Message when no rule prices a job: an unpriced job is never free, it is not offered. */
export const UNPRICED_MESSAGE = 'No pricing rule matches this job.';
/** Message when the rules price a job past what integer credits can hold exactly. */
export const TOO_LARGE_MESSAGE =
  'The rules price this job at more credits than can be counted exactly, so it is not offered.';

/** A price past Number.MAX_SAFE_INTEGER: refused, never rounded (see {@link combine}). */
class PriceTooLarge extends RangeError {}

/**
 * `factor` (a decimal with at most 4 places) as integer basis points, or `null` when it is not
 * exactly representable that way.
 */
export function factorToBps(factor: number): number | null {
  if (!Number.isFinite(factor)) return null;
  const bps = Math.round(factor * BPS_ONE);
  return Math.abs(bps - factor * BPS_ONE) < 1e-6 ? bps : null;
}

function bpsText(bps: number): string {
  const whole = Math.floor(bps / BPS_ONE);
  const frac = bps % BPS_ONE;
  if (frac === 0) return String(whole);
  return `${whole}.${String(frac).padStart(4, '0').replace(/0+$/, '')}`;
}

/** Turns a document event into a combiner event. Throws on an event validation would refuse. */
export function normalizeEvent(event: { type: string; params?: unknown }): CombinerEvent {
  // Validated documents only: the casts restate what the schema already checked.
  const p = (event.params ?? {}) as Record<string, unknown>;
  const label = p.label as string;
  switch (event.type) {
    case 'rate':
      return { type: 'rate', perUnit: p.perUnit as number, unit: p.unit as RateUnit, label };
    case 'flat':
      return { type: 'flat', credits: p.credits as number, label };
    case 'multiplier': {
      const bps = factorToBps(p.factor as number);
      if (bps === null)
        throw new RangeError(`multiplier factor ${String(p.factor)} is not exact to 4 places`);
      return { type: 'multiplier', bps, label };
    }
    case 'minimum':
      return {
        type: 'minimum',
        credits: p.credits as number,
        label: (p.label as string | undefined) ?? 'Minimum charge',
      };
    case 'unavailable':
      return {
        type: 'unavailable',
        reason: p.reason as UnavailableReason,
        message: p.message as string,
      };
    default:
      throw new Error(`normalizeEvent: unknown event type "${event.type}"`);
  }
}

function quantity(unit: RateUnit, job: Job): number {
  const j = job as {
    durationSec?: number;
    count?: number;
    tokens?: number;
    options?: { referenceImages?: number };
  };
  switch (unit) {
    case 'second':
      return j.durationSec ?? 0;
    case 'image':
      return j.count ?? 0;
    case 'token':
      return j.tokens ?? 0;
    case '1k_tokens': {
      const t = j.tokens ?? 0;
      return (t - (t % 1000)) / 1000 + (t % 1000 > 0 ? 1 : 0);
    }
    case 'reference_image':
      return j.options?.referenceImages ?? 0;
    default: {
      const never: never = unit;
      throw new Error(`unknown unit ${String(never)}`);
    }
  }
}

const UNIT_SUFFIX: Readonly<Record<RateUnit, readonly [string, string]>> = {
  second: [' s', ' s'],
  image: [' image', ' images'],
  token: [' token', ' tokens'],
  '1k_tokens': [' × 1k tokens', ' × 1k tokens'],
  reference_image: [' reference image', ' reference images'],
};

function checkSafe(n: number): number {
  if (!Number.isSafeInteger(n)) throw new PriceTooLarge('price exceeds the safe integer range');
  return n;
}

/** ⌈total × bps / 10,000⌉ in exact integer arithmetic for any safe integer total ≥ 0. */
export function applyBps(total: number, bps: number): number {
  const q = (total - (total % BPS_ONE)) / BPS_ONE;
  const r = total % BPS_ONE;
  const t = r * bps; // < 10^4 × 10^6: exact
  const tail = (t - (t % BPS_ONE)) / BPS_ONE + (t % BPS_ONE > 0 ? 1 : 0);
  return checkSafe(q * bps + tail);
}

/**
 * THE combiner. Both the compiled path and the json-rules-engine path hand it the events of
 * the rules that matched, in rule order (availability rules first, then pricing rules; within a
 * section by priority, highest first, then document order). It:
 *
 * 1. returns the first `unavailable` event as `{ ok: false, reason, message }` if there is one;
 * 2. otherwise walks the events in order with a running integer total starting at 0:
 *    `rate` adds perUnit × quantity, `flat` adds credits, `multiplier` sets the total to
 *    ⌈total × factor⌉ (factor exact in basis points, rounded up once per step) and its line
 *    shows that step's integer delta;
 * 3. then applies the largest `minimum`: if the total is below it, one `minimum` line adds the
 *    difference;
 * 4. if no `rate`, `flat` or `minimum` event matched, the job is unpriced and comes back as
 *    FEATURE_UNAVAILABLE (never free by accident).
 *
 * Every line is an integer and the lines sum exactly to `credits`. A job the rules price past
 * the safe integer range (huge rates or stacked multipliers) comes back as FEATURE_UNAVAILABLE
 * too: refused with a message, never rounded and never a crash.
 */
export function combine(input: { events: readonly CombinerEvent[]; job: Job }): CombineResult {
  try {
    return combineExact(input);
  } catch (e) {
    if (e instanceof PriceTooLarge)
      return { ok: false, reason: 'FEATURE_UNAVAILABLE', message: TOO_LARGE_MESSAGE };
    throw e;
  }
}

function combineExact(input: { events: readonly CombinerEvent[]; job: Job }): CombineResult {
  const { events, job } = input;
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    if (e.type === 'unavailable') return { ok: false, reason: e.reason, message: e.message };
  }
  let total = 0;
  let priced = false;
  let minimum: { credits: number; label: string } | null = null;
  const breakdown: BreakdownLine[] = [];
  for (let i = 0; i < events.length; i++) {
    const e = events[i]!;
    switch (e.type) {
      case 'rate': {
        const qty = quantity(e.unit, job);
        const credits = checkSafe(e.perUnit * qty);
        total = checkSafe(total + credits);
        priced = true;
        const suffix = UNIT_SUFFIX[e.unit][qty === 1 ? 0 : 1];
        breakdown.push({
          label: `${e.label}: ${qty}${suffix} × ${e.perUnit}`,
          type: 'rate',
          credits,
        });
        break;
      }
      case 'flat':
        total = checkSafe(total + e.credits);
        priced = true;
        breakdown.push({ label: e.label, type: 'flat', credits: e.credits });
        break;
      case 'multiplier': {
        const next = applyBps(total, e.bps);
        breakdown.push({
          label: `${e.label} (×${bpsText(e.bps)})`,
          type: 'multiplier',
          credits: next - total,
        });
        total = next;
        break;
      }
      case 'minimum':
        priced = true;
        if (minimum === null || e.credits > minimum.credits)
          minimum = { credits: e.credits, label: e.label };
        break;
      case 'unavailable':
        break;
    }
  }
  if (!priced) return { ok: false, reason: 'FEATURE_UNAVAILABLE', message: UNPRICED_MESSAGE };
  if (minimum !== null && total < minimum.credits) {
    breakdown.push({
      label: `${minimum.label} (minimum ${minimum.credits})`,
      type: 'minimum',
      credits: minimum.credits - total,
    });
    total = minimum.credits;
  }
  return { ok: true, credits: total, breakdown };
}
