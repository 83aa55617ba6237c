import { TRPCError } from '@trpc/server';
import type { TRPC_ERROR_CODE_KEY } from '@trpc/server/rpc';
import { CreditsError, type Reason } from '@credits/domain';

/** Every expected failure's tRPC code, in one place. */
export const REASON_CODES: Record<Reason, TRPC_ERROR_CODE_KEY> = {
  INSUFFICIENT_CREDITS: 'PRECONDITION_FAILED',
  COMING_SOON: 'PRECONDITION_FAILED',
  FEATURE_UNAVAILABLE: 'FORBIDDEN',
  HOLD_NOT_FOUND: 'NOT_FOUND',
  HOLD_SETTLED: 'CONFLICT',
  CAPTURE_EXCEEDS_HOLD: 'BAD_REQUEST',
  IDEMPOTENCY_CONFLICT: 'CONFLICT',
  RULES_INVALID: 'BAD_REQUEST',
  WORKSPACE_NOT_FOUND: 'NOT_FOUND',
  WORKSPACE_EXISTS: 'CONFLICT',
  EMAIL_TAKEN: 'CONFLICT',
  RATE_LIMITED: 'TOO_MANY_REQUESTS',
  NOT_FOUND: 'NOT_FOUND',
  UNAUTHORIZED: 'UNAUTHORIZED',
  FORBIDDEN: 'FORBIDDEN',
  VALIDATION: 'BAD_REQUEST',
  SPEND_LIMIT_REACHED: 'PRECONDITION_FAILED',
  REFUND_EXCEEDS_COST: 'BAD_REQUEST',
  JOB_NOT_REFUNDABLE: 'CONFLICT',
  STORE_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
  STORAGE_FULL: 'SERVICE_UNAVAILABLE',
  PAYMENT_PROVIDER_UNAVAILABLE: 'SERVICE_UNAVAILABLE',
};

/**
 * What a payment provider's failure (a timeout, a 5xx, a reset connection) becomes: one
 * request's retryable `PAYMENT_PROVIDER_UNAVAILABLE` (503), never a 500. A CreditsError
 * passes through as it is.
 */
export function whenProviderFails(
  message: string,
  details: Record<string, unknown>,
): (cause: unknown) => never {
  return (cause) => {
    if (cause instanceof CreditsError) throw cause;
    const e = new CreditsError('PAYMENT_PROVIDER_UNAVAILABLE', message, {
      retryable: true,
      ...details,
    });
    (e as Error & { cause?: unknown }).cause = cause;
    throw e;
  };
}

/** A CreditsError as the TRPCError the client sees; anything else passes through. */
export function toTRPCError(e: unknown): unknown {
  if (e instanceof CreditsError) {
    return new TRPCError({ code: REASON_CODES[e.reason], message: e.message, cause: e });
  }
  return e;
}
