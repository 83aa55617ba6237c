const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const signed = new Intl.NumberFormat('en-US', {
  maximumFractionDigits: 0,
  signDisplay: 'exceptZero',
});
const dateTime = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium', timeStyle: 'short' });
const dateOnly = new Intl.DateTimeFormat('en-US', { dateStyle: 'medium' });

/** 12345 → "12,345". Credits are integers; anything else is a bug upstream. */
export function formatAmount(n: number): string {
  return integer.format(n);
}

/** 50 → "+50", -50 → "-50", 0 → "0": ledger amounts as the user reads them. */
export function formatSigned(n: number): string {
  return signed.format(n);
}

/** "50 credits", "1 credit", "12,000 tokens". */
export function formatCredits(n: number, unit: 'credit' | 'token' = 'credit'): string {
  return `${formatAmount(n)} ${unit}${n === 1 ? '' : 's'}`;
}

export function formatDateTime(ms: number): string {
  return dateTime.format(new Date(ms));
}

export function formatDate(ms: number): string {
  return dateOnly.format(new Date(ms));
}

/** Share of a limit as a whole percent in [0, 100]. */
export function percentOf(used: number, limit: number): number {
  if (limit <= 0) return used > 0 ? 100 : 0;
  return Math.min(100, Math.max(0, Math.round((used / limit) * 100)));
}

/** `yyyy-mm-dd` from a date input → epoch ms at local start (or end) of that day. */
export function dayToMs(day: string, end = false): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return undefined;
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return end ? new Date(y, m - 1, d, 23, 59, 59, 999).getTime() : new Date(y, m - 1, d).getTime();
}

/** 1900 cents, "usd" → "$19.00": prices are display-only; credits stay integers. */
export function formatMoney(cents: number, currency = 'usd'): string {
  return new Intl.NumberFormat('en-US', {
    style: 'currency',
    currency: currency.toUpperCase(),
  }).format(cents / 100);
}
