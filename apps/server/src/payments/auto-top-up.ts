import type { Logger } from 'pino';
import { cycleAt, type WalletKind } from '@credits/domain';
import type { AutoTopUpSkip, Store } from '@credits/store';
import { postOwnWebhook } from './own-webhook.js';
import type { PaymentProvider } from './provider.js';

/** What one run did: nothing (and why), or a purchase started and what the provider said. */
export type AutoTopUpRun =
  | { started: false; skipped: AutoTopUpSkip | 'unsupported' | 'workspace_not_found' }
  | {
      started: true;
      orderId: string;
      /**
       * `submitted`: the provider took the request (its webhook pays or declines the order);
       * `declined`: it said no at once (its webhook declines the order); `failed`: no payment
       * was made (the order expired at once, not counted as a decline); `unknown`: the
       * provider could not be asked (its webhook, or the order's expiry, settles it).
       */
      outcome: 'submitted' | 'declined' | 'failed' | 'unknown';
    };

/**
 * Buys auto top-up packs: for one threshold crossing, the store starts at most one purchase
 * (`store.autoTopUp.begin`: on, a saved method, the consented pack and price, within the
 * cycle's cap, one per crossing, one in flight per wallet), then the saved method is charged
 * without the owner present. Credits come only from the provider's verified webhook, as for a
 * purchase through checkout; the webhook route settles the attempt.
 *
 * @example
 * const topUp = autoTopUpRunner({ store, provider, publicUrl: () => url, clock: Date.now, logger });
 * await topUp.run({ workspaceId, wallet: 'video_credits', crossingKey: 'video_credits:entry-42' });
 */
export function autoTopUpRunner(deps: {
  store: Store;
  provider: PaymentProvider;
  publicUrl: () => string;
  /** How a provider that reports through our own webhook route reaches it (global `fetch` when absent). */
  deliver?: (url: string, init: RequestInit) => Promise<Response>;
  clock: () => number;
  logger: Logger;
}) {
  const { store, provider } = deps;
  const deliver = deps.deliver ?? ((url: string, init: RequestInit) => fetch(url, init));
  const log = deps.logger.child({ component: 'auto-top-up', provider: provider.name });

  async function run(input: {
    workspaceId: string;
    wallet: WalletKind;
    crossingKey: string;
  }): Promise<AutoTopUpRun> {
    const off = provider.offSession;
    if (!off) return { started: false, skipped: 'unsupported' };
    const workspace = await store.getWorkspace(input.workspaceId);
    if (!workspace) return { started: false, skipped: 'workspace_not_found' };
    const now = deps.clock();
    const begun = await store.autoTopUp.begin({
      ...input,
      cycleKey: cycleAt({ anchorDay: workspace.billingAnchorDay, now }).key,
      provider: provider.name,
      now,
    });
    if (!begun.started) return begun;
    const orderId = begun.attempt.orderId;
    const fields = { workspaceId: input.workspaceId, wallet: input.wallet, orderId };
    const order = await store.billing.order({ orderId });
    if (!order) throw new Error(`auto top-up order ${orderId} vanished`);

    let session: string;
    try {
      session = (await off.createPayment({ order, method: begun.method })).session;
      await store.billing.attachSession({ orderId, session, url: '', now: deps.clock() });
    } catch (err) {
      // No payment exists (or none we could find again): end the attempt without counting it.
      log.error({ ...fields, err }, 'auto top-up payment not created');
      await store.autoTopUp.settle({ orderId, now: deps.clock(), failed: true });
      return { started: true, orderId, outcome: 'failed' };
    }
    try {
      const outcome = await off.confirmPayment({
        order,
        method: begun.method,
        session,
        now: deps.clock(),
        selfWebhook: async (rawBody, headers) => {
          const failure = await postOwnWebhook({
            deliver,
            publicUrl: deps.publicUrl(),
            provider: provider.name,
            rawBody,
            headers,
          });
          if (failure !== null) throw new Error(`own webhook refused: ${failure}`);
        },
      });
      log.info({ ...fields, outcome }, 'auto top-up payment requested');
      return { started: true, orderId, outcome };
    } catch (err) {
      log.error({ ...fields, err }, 'auto top-up payment not confirmed');
      return { started: true, orderId, outcome: 'unknown' };
    }
  }

  return { run };
}

export type AutoTopUpRunner = ReturnType<typeof autoTopUpRunner>;

/**
 * Starts auto top-up purchases from spends: after each committed reserve or charge (the API's
 * `afterSpend`), when the wallet's available balance went from at or above the threshold to
 * below it, one run for that crossing, named by the job that made it. Balances of one wallet
 * move one operation at a time, so of any number of concurrent jobs exactly one makes a
 * crossing; `begin` then decides the rest (on, within the cap, one pending per wallet, one per
 * crossing). Runs happen after the spend is answered; failures are logged, never thrown.
 */
export function autoTopUpTrigger(deps: { store: Store; runner: AutoTopUpRunner; logger: Logger }) {
  const inflight = new Set<Promise<unknown>>();
  const log = deps.logger.child({ component: 'auto-top-up' });

  async function consider(e: {
    workspaceId: string;
    wallet: WalletKind;
    jobId: string;
    credits: number;
    balance: number;
  }): Promise<AutoTopUpRun | null> {
    const setting = (await deps.store.autoTopUp.settings({ workspaceId: e.workspaceId })).find(
      (s) => s.wallet === e.wallet && s.enabled,
    );
    if (!setting) return null;
    const threshold = setting.consent.threshold;
    if (!(e.balance < threshold && e.balance + e.credits >= threshold)) return null;
    return deps.runner.run({
      workspaceId: e.workspaceId,
      wallet: e.wallet,
      crossingKey: `${e.wallet}:${e.jobId}`,
    });
  }

  return {
    /** For `afterSpend`: returns at once; the run goes on in the background. */
    afterSpend: (e: Parameters<typeof consider>[0]): void => {
      if (e.credits <= 0) return;
      const run = consider(e).catch((err: unknown) => {
        log.error({ err, workspaceId: e.workspaceId, wallet: e.wallet }, 'auto top-up not started');
        return null;
      });
      inflight.add(run);
      void run.finally(() => inflight.delete(run));
    },
    /** Resolves once every run started so far has finished (tests, shutdown). */
    async idle(): Promise<void> {
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
    },
  };
}

export type AutoTopUpTrigger = ReturnType<typeof autoTopUpTrigger>;

/**
 * Settle attempts whose order settled without them (the process stopped between the webhook
 * and the settlement, or the order expired unpaid). Each settles once; returns how many.
 */
export async function reconcileAutoTopUps(input: {
  store: Store;
  now: number;
  limit?: number;
}): Promise<number> {
  let settled = 0;
  for (const { orderId } of await input.store.autoTopUp.unsettled({ limit: input.limit ?? 100 })) {
    if ((await input.store.autoTopUp.settle({ orderId, now: input.now })).settled) settled += 1;
  }
  return settled;
}
