import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  autoTopUpTerms,
  checkLimits,
  fitsLimit,
  headroom,
  limitActionFor,
  normalizeThresholds,
  thresholdsCrossed,
  withinMonthlyCap,
  type LimitUsage,
} from './spend-controls.js';

const amounts = fc.integer({ min: 0, max: 1_000_000 });
const thresholdLists = fc
  .uniqueArray(fc.integer({ min: 1, max: 100 }), { maxLength: 5 })
  .map((t) => [...t].sort((a, b) => a - b));

const limitArb = fc
  .record({
    scope: fc.constantFrom('workspace', 'member', 'key') as fc.Arbitrary<LimitUsage['scope']>,
    amount: amounts,
    mode: fc.constantFrom('hard', 'soft') as fc.Arbitrary<LimitUsage['mode']>,
    thresholds: thresholdLists,
    used: amounts,
    held: amounts,
  })
  .map((l) => ({ ...l, subjectId: l.scope === 'workspace' ? null : `s_${l.amount % 7}` }));

describe('limit arithmetic (properties)', () => {
  it('a hard limit admits a job exactly when used + held + needed stays within it', () => {
    fc.assert(
      fc.property(limitArb, amounts, (l, needed) => {
        const hard = { ...l, mode: 'hard' as const };
        expect(fitsLimit(hard, needed)).toBe(l.used + l.held + needed <= l.amount);
        // Headroom is what a job may still take: a job of exactly the headroom fits when anything fits.
        if (l.used + l.held <= l.amount) expect(fitsLimit(hard, headroom(l))).toBe(true);
        expect(fitsLimit(hard, headroom(l) + 1)).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('a job fits all limits or is refused by the tightest hard one it breaks; soft limits never refuse', () => {
    fc.assert(
      fc.property(fc.array(limitArb, { maxLength: 6 }), amounts, (limits, needed) => {
        const r = checkLimits({ limits, needed });
        const broken = limits.filter(
          (l) => l.mode === 'hard' && l.used + l.held + needed > l.amount,
        );
        if (broken.length === 0) {
          expect(r.ok).toBe(true);
          return;
        }
        expect(r.ok).toBe(false);
        if (r.ok) return;
        const least = Math.min(...broken.map(headroom));
        const chosen = broken.find(
          (l) =>
            l.amount === r.refusal.limit && l.used === r.refusal.used && l.held === r.refusal.held,
        );
        expect(chosen).toBeDefined();
        expect(headroom(chosen!)).toBe(least);
        expect(r.refusal.needed).toBe(needed);
      }),
      { numRuns: 2000 },
    );
  });

  it('reserving one job at a time under a hard limit never overshoots it, whatever the sizes', () => {
    fc.assert(
      fc.property(
        amounts,
        fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 60 }),
        (amount, jobs) => {
          const limit: LimitUsage = {
            scope: 'workspace',
            subjectId: null,
            amount,
            mode: 'hard',
            thresholds: [50, 80, 100],
            used: 0,
            held: 0,
          };
          const alerted = new Set<number>();
          for (const needed of jobs) {
            const r = checkLimits({ limits: [limit], needed });
            if (!r.ok) {
              expect(limit.used + limit.held + needed).toBeGreaterThan(amount);
              continue;
            }
            for (const c of r.crossed)
              for (const t of c.thresholds) {
                // Each threshold is crossed at most once while usage only grows.
                expect(alerted.has(t)).toBe(false);
                alerted.add(t);
              }
            limit.held += needed;
            expect(limit.used + limit.held).toBeLessThanOrEqual(amount);
          }
          // Every threshold at or below what is now committed has alerted.
          if (amount > 0)
            for (const t of limit.thresholds)
              expect(alerted.has(t)).toBe(t * amount <= 100 * (limit.used + limit.held));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('thresholds crossed between two amounts: exactly those with before < t% ≤ after, and they add up', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100_000 }),
        thresholdLists,
        amounts,
        amounts,
        amounts,
        (amount, thresholds, a, b, c) => {
          const [x, y, z] = [a, b, c].sort((p, q) => p - q) as [number, number, number];
          const crossed = (before: number, after: number) =>
            thresholdsCrossed({ amount, thresholds, before, after });
          for (const t of crossed(x, z)) {
            expect(t * amount).toBeGreaterThan(100 * x);
            expect(t * amount).toBeLessThanOrEqual(100 * z);
          }
          // Going x → y → z crosses the same thresholds as x → z, none twice.
          expect([...crossed(x, y), ...crossed(y, z)]).toEqual(crossed(x, z));
          expect(crossed(z, x)).toEqual([]);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('limits, by example', () => {
  const base = { thresholds: [50, 80, 100], used: 0, held: 0 } as const;
  it('a lower workspace limit wins over a key limit', () => {
    const r = checkLimits({
      limits: [
        { ...base, scope: 'key', subjectId: 'key_1', amount: 500, mode: 'hard', used: 100 },
        { ...base, scope: 'workspace', subjectId: null, amount: 300, mode: 'hard', used: 250 },
      ],
      needed: 60,
    });
    expect(r).toEqual({
      ok: false,
      refusal: { scope: 'workspace', subjectId: null, limit: 300, used: 250, held: 0, needed: 60 },
    });
  });

  it('open holds count against the limit', () => {
    const limit = {
      ...base,
      scope: 'workspace',
      subjectId: null,
      amount: 100,
      mode: 'hard',
    } as const;
    expect(checkLimits({ limits: [{ ...limit, held: 60 }], needed: 50 }).ok).toBe(false);
    expect(checkLimits({ limits: [{ ...limit, held: 50 }], needed: 50 }).ok).toBe(true);
  });

  it('a soft limit lets the job through and reports the thresholds it crosses', () => {
    const limit = {
      ...base,
      scope: 'member',
      subjectId: 'usr_1',
      amount: 100,
      mode: 'soft',
      used: 70,
    } as const;
    const r = checkLimits({ limits: [limit], needed: 40 });
    expect(r.ok && r.crossed.map((c) => c.thresholds)).toEqual([[80, 100]]);
  });

  it('thresholds are whole percents 1–100, at most five, no duplicates, sorted', () => {
    expect(normalizeThresholds([100, 50, 80])).toEqual([50, 80, 100]);
    expect(normalizeThresholds([])).toEqual([]);
    expect(normalizeThresholds([50, 50])).toBeNull();
    expect(normalizeThresholds([0])).toBeNull();
    expect(normalizeThresholds([101])).toBeNull();
    expect(normalizeThresholds([12.5])).toBeNull();
    expect(normalizeThresholds([10, 20, 30, 40, 50, 60])).toBeNull();
  });

  it('owners (and admins) are offered to raise the limit; members and keys to ask an owner', () => {
    expect(limitActionFor('owner', false)).toBe('raise_limit');
    expect(limitActionFor(null, true)).toBe('raise_limit');
    expect(limitActionFor('member', false)).toBe('ask_owner');
    expect(limitActionFor(null, false)).toBe('ask_owner');
  });
});

describe('auto top-up', () => {
  it('terms name the wallet, threshold, pack, price and cap', () => {
    expect(
      autoTopUpTerms({
        walletLabel: 'Video Credits',
        threshold: 100,
        packCredits: 1000,
        priceCents: 4000,
        currency: 'usd',
        monthlyCapCents: 12000,
      }),
    ).toBe(
      'When your Video Credits balance falls below 100, we will charge your saved payment method $40.00 ' +
        'for 1,000 Video Credits, at most $120.00 per billing cycle. Three failed payments in a row turn ' +
        'auto top-up off. You can turn it off at any time on Billing & Usage.',
    );
  });

  it('the monthly cap admits a purchase only while the total stays within it', () => {
    fc.assert(
      fc.property(amounts, fc.integer({ min: 1, max: 100_000 }), amounts, (spent, price, cap) => {
        expect(withinMonthlyCap({ spentCents: spent, priceCents: price, capCents: cap })).toBe(
          spent + price <= cap,
        );
      }),
    );
  });
});
