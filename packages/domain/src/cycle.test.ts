import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cycleAt } from './cycle.js';

const DAY_MS = 86_400_000;

/** Days in a month by the Gregorian rule, written out rather than asked of `Date`. */
function daysIn(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month]!;
}

const anchors = fc.integer({ min: 1, max: 31 });
const FROM = Date.UTC(2000, 0, 1);
const TO = Date.UTC(2100, 11, 31, 23, 59, 59, 999);
/** Any millisecond in 2000..2100, half of them exact UTC midnights (where cycles turn). */
const instants = fc.oneof(
  fc.integer({ min: FROM, max: TO }),
  fc.integer({ min: FROM / DAY_MS, max: Math.floor(TO / DAY_MS) }).map((day) => day * DAY_MS),
);

describe('cycleAt', () => {
  it('contains now: start ≤ now < end, both UTC midnights, and the key names the start', () => {
    fc.assert(
      fc.property(anchors, instants, (anchorDay, now) => {
        const c = cycleAt({ anchorDay, now });
        expect(c.start).toBeLessThanOrEqual(now);
        expect(now).toBeLessThan(c.end);
        expect(c.start % DAY_MS).toBe(0);
        expect(c.end % DAY_MS).toBe(0);
        expect(c.key).toBe(new Date(c.start).toISOString().slice(0, 10));
      }),
      { numRuns: 5000 },
    );
  });

  it('starts on the anchor day clamped to the month end, and the next cycle starts on it too', () => {
    fc.assert(
      fc.property(anchors, instants, (anchorDay, now) => {
        const c = cycleAt({ anchorDay, now });
        for (const at of [c.start, c.end]) {
          const d = new Date(at);
          expect(d.getUTCDate()).toBe(
            Math.min(anchorDay, daysIn(d.getUTCFullYear(), d.getUTCMonth())),
          );
        }
        // Consecutive months: the end is in the month after the start.
        const s = new Date(c.start);
        const e = new Date(c.end);
        expect(e.getUTCFullYear() * 12 + e.getUTCMonth()).toBe(
          s.getUTCFullYear() * 12 + s.getUTCMonth() + 1,
        );
      }),
      { numRuns: 5000 },
    );
  });

  it('tiles time: the end is the next cycle’s start, the start the previous cycle’s end', () => {
    fc.assert(
      fc.property(anchors, instants, (anchorDay, now) => {
        const c = cycleAt({ anchorDay, now });
        const next = cycleAt({ anchorDay, now: c.end });
        expect(next.start).toBe(c.end);
        expect(cycleAt({ anchorDay, now: c.end - 1 })).toEqual(c);
        expect(cycleAt({ anchorDay, now: c.start })).toEqual(c);
        expect(cycleAt({ anchorDay, now: c.start - 1 }).end).toBe(c.start);
      }),
      { numRuns: 5000 },
    );
  });

  it('consecutive cycles are 28 to 31 days apart', () => {
    fc.assert(
      fc.property(anchors, instants, (anchorDay, now) => {
        const c = cycleAt({ anchorDay, now });
        const days = (c.end - c.start) / DAY_MS;
        expect(Number.isInteger(days)).toBe(true);
        expect(days).toBeGreaterThanOrEqual(28);
        expect(days).toBeLessThanOrEqual(31);
      }),
      { numRuns: 5000 },
    );
  });

  it('clamps the 29th, 30th and 31st to February’s end in leap and common years', () => {
    const feb = (y: number, anchorDay: number) => cycleAt({ anchorDay, now: Date.UTC(y, 1, 15) });
    expect(feb(2028, 31).key).toBe('2028-01-31');
    expect(feb(2028, 31).end).toBe(Date.UTC(2028, 1, 29));
    expect(cycleAt({ anchorDay: 31, now: Date.UTC(2028, 1, 29) }).key).toBe('2028-02-29');
    expect(cycleAt({ anchorDay: 31, now: Date.UTC(2029, 1, 28) }).key).toBe('2029-02-28');
    expect(cycleAt({ anchorDay: 31, now: Date.UTC(2029, 1, 28) }).end).toBe(Date.UTC(2029, 2, 31));
    expect(cycleAt({ anchorDay: 30, now: Date.UTC(2029, 1, 28) }).end).toBe(Date.UTC(2029, 2, 30));
    expect(cycleAt({ anchorDay: 29, now: Date.UTC(2029, 1, 28) }).key).toBe('2029-02-28');
    expect(cycleAt({ anchorDay: 29, now: Date.UTC(2028, 1, 28, 23, 59, 59, 999) }).key).toBe(
      '2028-01-29',
    );
    expect(cycleAt({ anchorDay: 29, now: Date.UTC(2028, 1, 29) }).key).toBe('2028-02-29');
    // 2000 was a leap year (divisible by 400), 2100 is not (divisible by 100).
    expect(cycleAt({ anchorDay: 31, now: Date.UTC(2000, 1, 29) }).key).toBe('2000-02-29');
    expect(cycleAt({ anchorDay: 31, now: Date.UTC(2100, 1, 28) }).key).toBe('2100-02-28');
  });

  it('refuses an anchor outside 1..31', () => {
    for (const anchorDay of [0, 32, 1.5, Number.NaN])
      expect(() => cycleAt({ anchorDay, now: 0 })).toThrow(/anchor day/);
  });
});
