import { describe, expect, it } from 'vitest';
import { dayToMs, formatAmount, formatCredits, formatSigned, percentOf } from './format';

describe('amount formatting', () => {
  it('puts thousands separators in amounts', () => {
    expect(formatAmount(0)).toBe('0');
    expect(formatAmount(999)).toBe('999');
    expect(formatAmount(1000)).toBe('1,000');
    expect(formatAmount(20_000)).toBe('20,000');
    expect(formatAmount(1_234_567_890)).toBe('1,234,567,890');
  });

  it('signs ledger amounts, and leaves zero unsigned', () => {
    expect(formatSigned(50)).toBe('+50');
    expect(formatSigned(-1500)).toBe('-1,500');
    expect(formatSigned(0)).toBe('0');
  });

  it('names the unit, singular for one', () => {
    expect(formatCredits(1)).toBe('1 credit');
    expect(formatCredits(12_000, 'token')).toBe('12,000 tokens');
  });

  it('turns usage into a bounded percent', () => {
    expect(percentOf(5_000, 20_000)).toBe(25);
    expect(percentOf(30_000, 20_000)).toBe(100);
    expect(percentOf(0, 0)).toBe(0);
  });

  it('reads date inputs as local days and ignores anything else', () => {
    expect(dayToMs('2026-03-01')).toBe(new Date(2026, 2, 1).getTime());
    expect(dayToMs('2026-03-01', true)).toBe(new Date(2026, 2, 1, 23, 59, 59, 999).getTime());
    expect(dayToMs('')).toBeUndefined();
    expect(dayToMs('03/01/2026')).toBeUndefined();
  });
});
