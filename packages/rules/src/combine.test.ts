import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applyBps,
  combine,
  factorToBps,
  normalizeEvent,
  type CombinerEvent,
  type Job,
} from './index.js';
import { TOO_LARGE_MESSAGE } from './combine.js';

const video = (durationSec: number, referenceImages?: number): Job => ({
  kind: 'video',
  type: 'standard',
  durationSec,
  resolution: '720p',
  ...(referenceImages !== undefined ? { options: { referenceImages } } : {}),
});
const rate = (perUnit: number, unit: 'second' | 'reference_image' = 'second'): CombinerEvent => ({
  type: 'rate',
  perUnit,
  unit,
  label: 'Base',
});
const mult = (factor: number): CombinerEvent =>
  normalizeEvent({ type: 'multiplier', params: { factor, label: 'M' } });

describe('combine', () => {
  it('adds rates and flats, listing each contribution', () => {
    const out = combine({
      events: [rate(10), { type: 'flat', credits: 7, label: 'Setup' }],
      job: video(5),
    });
    expect(out).toEqual({
      ok: true,
      credits: 57,
      breakdown: [
        { label: 'Base: 5 s × 10', type: 'rate', credits: 50 },
        { label: 'Setup', type: 'flat', credits: 7 },
      ],
    });
  });

  it('applies multipliers to the running total in order, rounding up each step, lines summing exactly', () => {
    // 50 × 1.25 = 62.5 → 63 (+13); then +7 = 70; then × 0.3333 = 23.331 → 24 (−46)
    const out = combine({
      events: [rate(10), mult(1.25), { type: 'flat', credits: 7, label: 'F' }, mult(0.3333)],
      job: video(5),
    });
    expect(out).toEqual({
      ok: true,
      credits: 24,
      breakdown: [
        { label: 'Base: 5 s × 10', type: 'rate', credits: 50 },
        { label: 'M (×1.25)', type: 'multiplier', credits: 13 },
        { label: 'F', type: 'flat', credits: 7 },
        { label: 'M (×0.3333)', type: 'multiplier', credits: -46 },
      ],
    });
  });

  it('order matters: a multiplier does not touch what comes after it', () => {
    const a = combine({
      events: [rate(10), mult(2), { type: 'flat', credits: 5, label: 'F' }],
      job: video(1),
    });
    const b = combine({
      events: [rate(10), { type: 'flat', credits: 5, label: 'F' }, mult(2)],
      job: video(1),
    });
    expect(a).toMatchObject({ credits: 25 });
    expect(b).toMatchObject({ credits: 30 });
  });

  it('raises the total to the largest minimum, with one line for the difference', () => {
    const events: CombinerEvent[] = [
      rate(10),
      { type: 'minimum', credits: 80, label: 'Min A' },
      { type: 'minimum', credits: 100, label: 'Min B' },
    ];
    expect(combine({ events, job: video(3) })).toEqual({
      ok: true,
      credits: 100,
      breakdown: [
        { label: 'Base: 3 s × 10', type: 'rate', credits: 30 },
        { label: 'Min B (minimum 100)', type: 'minimum', credits: 70 },
      ],
    });
    expect(combine({ events, job: video(20) })).toMatchObject({
      credits: 200,
      breakdown: [{ credits: 200 }],
    });
  });

  it('lets the first unavailable event win over any price', () => {
    const out = combine({
      events: [
        rate(10),
        { type: 'unavailable', reason: 'COMING_SOON', message: 'first' },
        { type: 'unavailable', reason: 'FEATURE_UNAVAILABLE', message: 'second' },
      ],
      job: video(5),
    });
    expect(out).toEqual({ ok: false, reason: 'COMING_SOON', message: 'first' });
  });

  it('never prices a job for free by accident: no rate, flat or minimum → FEATURE_UNAVAILABLE', () => {
    expect(combine({ events: [], job: video(5) })).toMatchObject({
      ok: false,
      reason: 'FEATURE_UNAVAILABLE',
    });
    expect(combine({ events: [mult(2)], job: video(5) })).toMatchObject({
      ok: false,
      reason: 'FEATURE_UNAVAILABLE',
    });
    expect(combine({ events: [rate(0)], job: video(5) })).toMatchObject({ ok: true, credits: 0 });
  });

  it('uses the right quantity per unit', () => {
    const job: Job = { kind: 'ai', tokens: 1001 };
    expect(
      combine({ events: [{ type: 'rate', perUnit: 3, unit: '1k_tokens', label: 'AI' }], job }),
    ).toMatchObject({ credits: 6 });
    expect(
      combine({ events: [{ type: 'rate', perUnit: 1, unit: 'token', label: 'AI' }], job }),
    ).toMatchObject({ credits: 1001 });
    expect(combine({ events: [rate(4, 'reference_image')], job: video(5) })).toMatchObject({
      credits: 0,
    });
    expect(combine({ events: [rate(4, 'reference_image')], job: video(5, 3) })).toMatchObject({
      credits: 12,
    });
  });

  it('lines always sum to the total (property)', () => {
    const eventArb = fc.oneof(
      fc.integer({ min: 0, max: 1000 }).map((perUnit) => rate(perUnit)),
      fc
        .integer({ min: 0, max: 10_000 })
        .map((credits): CombinerEvent => ({ type: 'flat', credits, label: 'F' })),
      fc
        .integer({ min: 0, max: 1_000_000 })
        .map((bps): CombinerEvent => ({ type: 'multiplier', bps, label: 'M' })),
      fc
        .integer({ min: 0, max: 1_000_000 })
        .map((credits): CombinerEvent => ({ type: 'minimum', credits, label: 'Min' })),
    );
    fc.assert(
      fc.property(
        fc.array(eventArb, { maxLength: 8 }),
        fc.integer({ min: 1, max: 600 }),
        (events, sec) => {
          const out = combine({ events, job: video(sec) });
          if (!out.ok) return;
          expect(Number.isSafeInteger(out.credits)).toBe(true);
          expect(out.credits).toBeGreaterThanOrEqual(0);
          expect(out.breakdown.reduce((s, l) => s + l.credits, 0)).toBe(out.credits);
        },
      ),
      { numRuns: 2000 },
    );
  });
});

describe('integer arithmetic', () => {
  it('applyBps is ⌈total × bps / 10,000⌉ exactly (checked with BigInt)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        (total, bps) => {
          const n = BigInt(total) * BigInt(bps);
          const expected = n / 10_000n + (n % 10_000n > 0n ? 1n : 0n);
          expect(BigInt(applyBps(total, bps))).toBe(expected);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('a job priced past the safe integer range is refused with a reason, never a crash (the property found it)', () => {
    const events: CombinerEvent[] = [
      rate(3),
      ...[692392, 885304, 814001, 978363, 937009, 503207, 945181].map((bps): CombinerEvent => ({
        type: 'multiplier',
        bps,
        label: 'M',
      })),
    ];
    expect(combine({ events, job: video(138) })).toEqual({
      ok: false,
      reason: 'FEATURE_UNAVAILABLE',
      message: TOO_LARGE_MESSAGE,
    });
  });

  it('refuses totals past the safe integer range instead of rounding silently', () => {
    expect(() => applyBps(Number.MAX_SAFE_INTEGER, 20_000)).toThrow(RangeError);
  });

  it('converts factors to basis points exactly, or refuses them', () => {
    expect(factorToBps(1.25)).toBe(12_500);
    expect(factorToBps(0.3333)).toBe(3333);
    expect(factorToBps(1.1)).toBe(11_000);
    expect(factorToBps(100)).toBe(1_000_000);
    expect(factorToBps(1.23456)).toBeNull();
    expect(factorToBps(Number.NaN)).toBeNull();
  });
});
