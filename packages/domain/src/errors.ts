/**
 * Expected failures, each with a machine-readable reason. The API maps each reason to a tRPC
 * code in one place; anything else thrown is a bug and surfaces as such.
 */
export const REASONS = {
  INSUFFICIENT_CREDITS: 'INSUFFICIENT_CREDITS',
  COMING_SOON: 'COMING_SOON',
  FEATURE_UNAVAILABLE: 'FEATURE_UNAVAILABLE',
  HOLD_NOT_FOUND: 'HOLD_NOT_FOUND',
  HOLD_SETTLED: 'HOLD_SETTLED',
  CAPTURE_EXCEEDS_HOLD: 'CAPTURE_EXCEEDS_HOLD',
  IDEMPOTENCY_CONFLICT: 'IDEMPOTENCY_CONFLICT',
  RULES_INVALID: 'RULES_INVALID',
  WORKSPACE_NOT_FOUND: 'WORKSPACE_NOT_FOUND',
  WORKSPACE_EXISTS: 'WORKSPACE_EXISTS',
  EMAIL_TAKEN: 'EMAIL_TAKEN',
  RATE_LIMITED: 'RATE_LIMITED',
  NOT_FOUND: 'NOT_FOUND',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  VALIDATION: 'VALIDATION',
  SPEND_LIMIT_REACHED: 'SPEND_LIMIT_REACHED',
  REFUND_EXCEEDS_COST: 'REFUND_EXCEEDS_COST',
  JOB_NOT_REFUNDABLE: 'JOB_NOT_REFUNDABLE',
  /** The database could not be reached or did not answer in time; retry with the same key. */
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  /** The disk under the store is full; retry with the same key once space is freed. */
  STORAGE_FULL: 'STORAGE_FULL',
  /** The payment provider failed or did not answer in time; the order is kept, retry with the same key. */
  PAYMENT_PROVIDER_UNAVAILABLE: 'PAYMENT_PROVIDER_UNAVAILABLE',
} as const;
export type Reason = (typeof REASONS)[keyof typeof REASONS];

/** An expected failure: the caller did something the rules of the ledger refuse. */
export class CreditsError extends Error {
  readonly reason: Reason;
  readonly details: Record<string, unknown>;
  constructor(reason: Reason, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'CreditsError';
    this.reason = reason;
    this.details = details;
  }
}

export function isCreditsError(e: unknown): e is CreditsError {
  return e instanceof CreditsError;
}
