/** Ledger entry types (SPEC 8). */
export const ENTRY_TYPES = [
  'grant',
  'purchase',
  'trial',
  'hold',
  'spend',
  'return',
  'expire',
  'refund',
  'adjustment',
] as const;
export type EntryType = (typeof ENTRY_TYPES)[number];

export const JOB_STATUSES = ['reserved', 'completed', 'failed', 'expired'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

/** How a hold settled: capture completes the job, release fails it, expiry expires it. */
export type Settlement = 'capture' | 'release' | 'expire';

export const DEFAULT_HOLD_TTL_MS = 60 * 60 * 1000;
