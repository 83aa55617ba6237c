import { createTRPCClient, httpBatchLink, httpLink, TRPCClientError } from '@trpc/client';
import type { AppRouter, RouterInputs, RouterOutputs } from '@credits/api';

export interface CreditsClientOptions {
  /** Base URL of the server, e.g. `http://127.0.0.1:3000`; `/trpc` is added. */
  url: string;
  /** The bearer service key. */
  apiKey: string;
  /** Group concurrent calls into one HTTP request (default true). */
  batch?: boolean;
  fetch?: typeof fetch;
}

/**
 * A typed client for internal services.
 *
 * @example
 * const credits = createCreditsClient({ url: 'http://127.0.0.1:3000', apiKey: process.env.CREDITS_KEY! });
 * const { wallets } = await credits.wallets.list.query({ workspaceId: 'demo' });
 */
export function createCreditsClient(opts: CreditsClientOptions) {
  const linkOpts = {
    url: `${opts.url.replace(/\/$/, '')}/trpc`,
    headers: () => ({ authorization: `Bearer ${opts.apiKey}` }),
    ...(opts.fetch ? { fetch: opts.fetch } : {}),
  };
  return createTRPCClient<AppRouter>({
    links: [
      opts.batch === false ? httpLink(linkOpts) : httpBatchLink({ ...linkOpts, maxItems: 50 }),
    ],
  });
}

export type CreditsClient = ReturnType<typeof createCreditsClient>;
export type { AppRouter, RouterInputs, RouterOutputs };

/** The machine-readable reason of a failed call (`INSUFFICIENT_CREDITS`, …), if any. */
export function reasonOf(error: unknown): string | null {
  if (error instanceof TRPCClientError) {
    const data = error.data as { reason?: string | null } | undefined;
    return data?.reason ?? null;
  }
  return null;
}
