import { joinUrl } from './provider.js';

/** How long a provider that reports through our own webhook route waits for its answer. */
export const SELF_WEBHOOK_TIMEOUT_MS = 15_000;

/**
 * Post a signed event to this server's own `/webhooks/<provider>` route over HTTP, exactly as
 * a real provider would (the sandbox reports this way). Resolves to null when accepted (2xx),
 * else to what went wrong.
 */
export async function postOwnWebhook(input: {
  deliver: (url: string, init: RequestInit) => Promise<Response>;
  publicUrl: string;
  provider: string;
  rawBody: string;
  headers: Record<string, string>;
}): Promise<string | null> {
  const url = joinUrl(input.publicUrl, `/webhooks/${input.provider}`);
  try {
    const res = await input.deliver(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...input.headers },
      body: input.rawBody,
      signal: AbortSignal.timeout(SELF_WEBHOOK_TIMEOUT_MS),
    });
    const answer = await res.text();
    return res.ok ? null : `HTTP ${res.status}: ${answer.slice(0, 200)}`;
  } catch (err) {
    return String(err);
  }
}
