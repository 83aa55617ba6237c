/** Where credits come from (SPEC 3). */
export const LOT_SOURCES = ['plan_allowance', 'purchase', 'trial', 'promo', 'adjustment'] as const;
export type LotSource = (typeof LOT_SOURCES)[number];

/** Tie-break rank among lots that expire at the same moment: lower spends first. */
const SOURCE_RANK: Record<LotSource, number> = {
  trial: 0,
  plan_allowance: 1,
  promo: 2,
  adjustment: 3,
  purchase: 4,
};

/** What spend ordering needs to know of a lot. */
export interface LotState {
  id: string;
  source: LotSource;
  remaining: number;
  /** Epoch ms; null never expires. */
  expiresAt: number | null;
  /** Null: any job may use it. Otherwise only jobs whose eligible restrictions name it. */
  restriction: string | null;
  /** Epoch ms of the grant; older spends first among equals. */
  createdAt: number;
}

export interface SpendContext {
  /** Epoch ms. A lot with expiresAt <= now is expired and never spent. */
  now: number;
  /** Restrictions this job satisfies (e.g. ['trial'] when the trial rules accept it). */
  restrictions: readonly string[];
}

/** A lot the job may draw from right now. */
export function isUsable(lot: LotState, ctx: SpendContext): boolean {
  if (lot.remaining <= 0) return false;
  if (lot.expiresAt !== null && lot.expiresAt <= ctx.now) return false;
  return lot.restriction === null || ctx.restrictions.includes(lot.restriction);
}

/** SPEC 3 order: soonest expiry first, no expiry last; then source rank; then oldest; then id. */
export function compareSpendOrder(a: LotState, b: LotState): number {
  const ea = a.expiresAt ?? Number.POSITIVE_INFINITY;
  const eb = b.expiresAt ?? Number.POSITIVE_INFINITY;
  if (ea !== eb) return ea < eb ? -1 : 1;
  const ra = SOURCE_RANK[a.source];
  const rb = SOURCE_RANK[b.source];
  if (ra !== rb) return ra - rb;
  if (a.createdAt !== b.createdAt) return a.createdAt - b.createdAt;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The usable lots, in the order a job spends them. */
export function spendOrder<L extends LotState>(lots: readonly L[], ctx: SpendContext): L[] {
  return lots.filter((l) => isUsable(l, ctx)).sort(compareSpendOrder);
}

export interface Allocation {
  lotId: string;
  amount: number;
}

export type AllocationResult =
  { ok: true; allocations: Allocation[] } | { ok: false; needed: number; available: number };

/**
 * Draw `amount` credits from the lots in spend order. Whole or nothing: when the usable
 * lots hold less than `amount`, nothing is allocated and the shortfall is reported.
 *
 * @example
 * allocate({ lots, amount: 50, ctx: { now, restrictions: ['trial'] } })
 */
export function allocate(input: {
  lots: readonly LotState[];
  amount: number;
  ctx: SpendContext;
}): AllocationResult {
  assertCredits(input.amount);
  const ordered = spendOrder(input.lots, input.ctx);
  const available = ordered.reduce((sum, l) => sum + l.remaining, 0);
  if (available < input.amount) return { ok: false, needed: input.amount, available };
  const allocations: Allocation[] = [];
  let left = input.amount;
  for (const lot of ordered) {
    if (left === 0) break;
    const take = Math.min(left, lot.remaining);
    allocations.push({ lotId: lot.id, amount: take });
    left -= take;
  }
  return { ok: true, allocations };
}

/** The credits a job may use: the sum of usable lots. */
export function usableBalance(lots: readonly LotState[], ctx: SpendContext): number {
  return lots.reduce((sum, l) => (isUsable(l, ctx) ? sum + l.remaining : sum), 0);
}

/**
 * Split `amount` of a hold's allocations to give back: the lots drawn last get theirs back
 * first, so what stays spent is what the spend order preferred.
 */
export function returnOrder(input: {
  allocations: readonly Allocation[];
  amount: number;
}): Allocation[] {
  assertCredits(input.amount);
  const total = input.allocations.reduce((s, a) => s + a.amount, 0);
  if (input.amount > total) throw new Error(`cannot return ${input.amount} of a ${total} hold`);
  const out: Allocation[] = [];
  let left = input.amount;
  for (let i = input.allocations.length - 1; i >= 0 && left > 0; i--) {
    const a = input.allocations[i]!;
    const give = Math.min(left, a.amount);
    if (give > 0) out.push({ lotId: a.lotId, amount: give });
    left -= give;
  }
  return out;
}

/** Programmer-error guard: every amount is a non-negative safe integer. */
export function assertCredits(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new Error(`credits must be a non-negative integer, got ${n}`);
}
