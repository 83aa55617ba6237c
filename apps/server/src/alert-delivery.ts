import { createHmac } from 'node:crypto';
import type { Notification, Store } from '@credits/store';
import { webhookFetch, type FetchLike } from './webhook-fetch.js';

/**
 * How long to wait after the 1st, 2nd, … failed attempt before the next one. After the
 * attempt that follows the last wait also fails, the delivery is `failed` for good
 * (six attempts over about 7 h 12 min).
 */
export const ALERT_RETRY_DELAYS_MS = [30_000, 120_000, 600_000, 3_600_000, 21_600_000] as const;

/** One attempt gives up after this long (connect, headers and status). */
export const ALERT_TIMEOUT_MS = 5_000;

/**
 * A claimed delivery whose outcome was never recorded (the sender died mid-request) is due
 * again this long after the claim. Well above {@link ALERT_TIMEOUT_MS}.
 */
export const ALERT_LEASE_MS = 60_000;

/** The header that carries the signature. */
export const ALERT_SIGNATURE_HEADER = 'credits-signature';

/** The subset of `fetch` delivery uses (defined beside the guarded sender). */
export type { FetchLike };

/** The JSON body of an alert webhook. Amounts are credits; `createdAt` is epoch ms. */
export interface AlertPayload {
  id: number;
  workspaceId: string;
  wallet: Notification['wallet'];
  kind: Notification['kind'];
  balance: number;
  message: string;
  createdAt: number;
}

/**
 * The `credits-signature` value for a body sent at `timestampSec`:
 * `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`. A receiver recomputes the
 * HMAC over the raw body it received and rejects a stale `t`.
 *
 * @example
 * signAlert({ secret: 'whsec_test', body: '{"id":1}', timestampSec: 1767225600 })
 * // → 't=1767225600,v1=c288d7ec0b1747de22e35fbdbabba9772c8e0d64b7db67e546bc92b86c005ab8'
 */
export function signAlert(input: { secret: string; body: string; timestampSec: number }): string {
  const mac = createHmac('sha256', input.secret)
    .update(`${input.timestampSec}.${input.body}`)
    .digest('hex');
  return `t=${input.timestampSec},v1=${mac}`;
}

/** When to try again after attempt number `attempts` (1-based) failed; null when out of tries. */
export function nextAttemptAfter(input: { attempts: number; now: number }): number | null {
  const wait = ALERT_RETRY_DELAYS_MS[input.attempts - 1];
  return wait === undefined ? null : input.now + wait;
}

/**
 * What the delivery log says about an attempt that got no answer: `timed out`, or `could not
 * connect` for everything else — a refused non-public address, a name that does not resolve,
 * a refused or reset connection alike, so the log is no probe of the server's network.
 */
export function describeFailure(e: unknown): string {
  const name = (e as { name?: string } | null)?.name;
  return name === 'TimeoutError' || name === 'AbortError' ? 'timed out' : 'could not connect';
}

/** Refuses the server's own network at connect time (see webhook-fetch.ts). */
const defaultSend: FetchLike = webhookFetch();

export interface DeliveryReport {
  /** Requests sent this pass. */
  attempted: number;
  delivered: number;
  /** Failed, and scheduled again. */
  retrying: number;
  /** Failed for the last time. */
  failed: number;
  /** Due, but claimed by another pass or process first. */
  skipped: number;
}

/**
 * Post every due alert webhook once: claim it (one sender per notification, across
 * processes), sign and POST its JSON, then record the outcome. A 2xx response delivers it;
 * anything else (another status, a redirect, a network error, a timeout) schedules a retry
 * with backoff ({@link ALERT_RETRY_DELAYS_MS}), then marks it `failed`. A host that resolves
 * to a non-public address counts as one more failure, so what an owner sees (`delivered`,
 * `pending` while retrying, `failed`) says nothing about the server's network beyond that. Notifications are
 * recorded once per crossing into low or empty, so this sends once per crossing, never per
 * spend; receivers should still deduplicate by `id` (a sender that dies between the request
 * and recording the outcome is retried after {@link ALERT_LEASE_MS}).
 */
export async function deliverDueAlerts(input: {
  store: Store;
  now: number;
  fetch?: FetchLike;
  limit?: number;
  concurrency?: number;
  timeoutMs?: number;
}): Promise<DeliveryReport> {
  const send: FetchLike = input.fetch ?? defaultSend;
  const timeoutMs = input.timeoutMs ?? ALERT_TIMEOUT_MS;
  const due = await input.store.billing.dueDeliveries({ now: input.now, limit: input.limit ?? 50 });
  const report: DeliveryReport = { attempted: 0, delivered: 0, retrying: 0, failed: 0, skipped: 0 };

  const deliverOne = async (n: (typeof due)[number]) => {
    const claimed = await input.store.billing.claimDelivery({
      id: n.id,
      now: input.now,
      leaseUntil: input.now + ALERT_LEASE_MS,
    });
    if (!claimed) {
      report.skipped += 1;
      return;
    }
    const payload: AlertPayload = {
      id: n.id,
      workspaceId: n.workspaceId,
      wallet: n.wallet,
      kind: n.kind,
      balance: n.balance,
      message: n.message,
      createdAt: n.createdAt,
    };
    const body = JSON.stringify(payload);
    const signature = signAlert({
      secret: n.secret,
      body,
      timestampSec: Math.floor(input.now / 1000),
    });
    report.attempted += 1;
    let ok = false;
    let statusCode: number | null = null;
    let error: string | null = null;
    const started = performance.now();
    try {
      const res = await send(n.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'credit-wallets-alerts/1',
          [ALERT_SIGNATURE_HEADER]: signature,
        },
        body,
        // A redirect is a failure: the signed body goes only where the owner said.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      statusCode = res.status;
      ok = res.status >= 200 && res.status < 300;
      if (!ok) error = res.status >= 300 && res.status < 400 ? 'redirect refused' : null;
      // Free the connection; the receiver's answer is not read.
      await res.body?.cancel().catch(() => undefined);
    } catch (e) {
      ok = false;
      error = describeFailure(e);
    }
    const durationMs = performance.now() - started;
    const nextAttemptAt = ok
      ? null
      : nextAttemptAfter({ attempts: n.attempts + 1, now: input.now });
    await input.store.billing.recordDelivery({
      id: n.id,
      ok,
      now: input.now,
      nextAttemptAt,
      log: { workspaceId: n.workspaceId, url: n.url, statusCode, error, durationMs },
    });
    if (ok) report.delivered += 1;
    else if (nextAttemptAt === null) report.failed += 1;
    else report.retrying += 1;
  };

  // A few at a time: one slow receiver (up to the timeout) does not hold up the rest.
  const queue = [...due];
  const workers = Array.from(
    { length: Math.max(1, Math.min(input.concurrency ?? 8, queue.length)) },
    async () => {
      for (let n = queue.shift(); n !== undefined; n = queue.shift()) await deliverOne(n);
    },
  );
  const outcomes = await Promise.allSettled(workers);
  const broken = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  // The store failed (a claim or a record): once every worker is done, the pass reports it.
  if (broken) throw broken.reason;
  return report;
}
