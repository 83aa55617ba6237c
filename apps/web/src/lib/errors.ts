import { TRPCClientError } from '@trpc/client';

interface ErrorData {
  reason?: string | null;
  details?: Record<string, unknown> | null;
  zodError?: { formErrors: string[]; fieldErrors: Record<string, string[] | undefined> } | null;
  code?: string;
}

function dataOf(e: unknown): ErrorData | null {
  if (e instanceof TRPCClientError) return (e.data ?? null) as ErrorData | null;
  return null;
}

/** The server's machine-readable reason (INSUFFICIENT_CREDITS, COMING_SOON, …), if any. */
export function errorReason(e: unknown): string | null {
  return dataOf(e)?.reason ?? null;
}

export function errorDetails(e: unknown): Record<string, unknown> | null {
  return dataOf(e)?.details ?? null;
}

/** Field errors from the server's flattened zod error. */
export function fieldErrors(e: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  const fe = dataOf(e)?.zodError?.fieldErrors ?? {};
  for (const [k, v] of Object.entries(fe)) if (v?.[0]) out[k] = v[0];
  return out;
}

/** The server refuses a query sent as POST: rule documents are too large for a URL. */
export function isMethodRefused(e: unknown): boolean {
  return dataOf(e)?.code === 'METHOD_NOT_SUPPORTED';
}

/** A sentence for people: the server's message, or a plain fallback for network trouble. */
export function errorMessage(e: unknown): string {
  if (e instanceof TRPCClientError) {
    if (!e.data && /fetch|network/i.test(e.message))
      return 'Cannot reach the server. Check your connection and try again.';
    if (isMethodRefused(e)) {
      return 'This server does not accept rule documents yet: they are too large for a URL and it refuses them as POST queries (allowMethodOverride).';
    }
    return e.message || 'Something went wrong.';
  }
  if (e instanceof Error) return e.message;
  return 'Something went wrong.';
}

export function isUnauthorized(e: unknown): boolean {
  const d = dataOf(e);
  return d?.reason === 'UNAUTHORIZED' || d?.code === 'UNAUTHORIZED';
}
