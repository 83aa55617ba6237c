import { createTRPCClient, httpBatchLink, httpLink, splitLink } from '@trpc/client';
import type { AppRouter, RouterInputs, RouterOutputs } from '@credits/api';

export type { RouterInputs, RouterOutputs };
export type WalletView = RouterOutputs['wallets']['list']['wallets'][number];
export type WalletKind = WalletView['kind'];
export type WalletAction = WalletView['actions'][number];
export type WalletStatus = WalletView['status'];
export type Quote = RouterOutputs['usage']['quote'];
export type Job = RouterInputs['usage']['quote']['job'];
export type VideoJob = Extract<Job, { kind: 'video' }>;
export type ImageJob = Extract<Job, { kind: 'image' }>;
export type LedgerEntry = RouterOutputs['usage']['history']['items'][number];
export type EntryType = LedgerEntry['type'];
export type JobRecord = RouterOutputs['usage']['jobs']['items'][number];
export type Me = RouterOutputs['auth']['me'];

/** Cookie-session writes must carry this header; the server refuses them otherwise. */
export const CSRF_HEADER = 'x-credits-csrf';

/**
 * The one API client: batched, same-origin `/trpc`, the session cookie, and the CSRF header.
 * Only the router's type comes from `@credits/api`; no server code reaches the browser.
 */
const common = {
  url: '/trpc',
  headers: () => ({ [CSRF_HEADER]: '1' }),
  fetch: (url: URL | RequestInfo, options?: RequestInit | object) =>
    fetch(url, { ...(options as RequestInit), credentials: 'include' }),
};

/** Queries whose input would make a URL longer than servers accept (rule documents). */
export const LARGE_QUERY_CHARS = 1500;
export function isLargeQuery(op: { type: string; input: unknown }): boolean {
  if (op.type !== 'query' || op.input === undefined) return false;
  try {
    return JSON.stringify(op.input).length > LARGE_QUERY_CHARS;
  } catch {
    return false;
  }
}

export const trpc = createTRPCClient<AppRouter>({
  links: [
    splitLink({
      condition: isLargeQuery,
      // A rule document does not fit in a URL: send that query as a POST body.
      true: httpLink({ ...common, methodOverride: 'POST' }),
      false: httpBatchLink({ ...common, maxItems: 20, maxURLLength: 2000 }),
    }),
  ],
});
