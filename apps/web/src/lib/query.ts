import { QueryCache, QueryClient } from '@tanstack/vue-query';
import { errorReason, isUnauthorized } from './errors';

/** Reasons that will not change on a retry. */
const FINAL = new Set([
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_FOUND',
  'WORKSPACE_NOT_FOUND',
  'VALIDATION',
  'COMING_SOON',
  'FEATURE_UNAVAILABLE',
]);

/** Called when a fetch finds the session gone (expired or signed out elsewhere). */
let onSignedOut: (() => void) | null = null;
export function whenSignedOut(fn: () => void) {
  onSignedOut = fn;
}

export function createQueryClient(): QueryClient {
  return new QueryClient({
    queryCache: new QueryCache({
      onError: (error, query) => {
        if (isUnauthorized(error) && query.queryKey[0] !== 'me') onSignedOut?.();
      },
    }),
    defaultOptions: {
      queries: {
        staleTime: 10_000,
        refetchOnWindowFocus: false,
        retry: (count, error) => count < 2 && !FINAL.has(errorReason(error) ?? ''),
      },
    },
  });
}

export const queryClient = createQueryClient();
