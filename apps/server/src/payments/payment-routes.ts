import type { AutoTopUpTrigger } from './auto-top-up.js';
import { Hono } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Logger } from 'pino';
import { CreditsError, DEFAULT_WALLET_CATALOG } from '@credits/domain';
import { CycleService, planItemName, type WorkspaceCache } from '@credits/api';
import { AUTO_TOP_UP_ACTOR, type Store } from '@credits/store';
import type { Metrics } from '../metrics.js';
import { CHECKOUT_PAGE_CSP, renderCheckoutMessage, renderCheckoutPage } from './checkout-page.js';
import {
  WebhookVerificationError,
  returnLocation,
  safeReturnPath,
  type PaymentProvider,
  type SavedMethodReport,
  type VerifiedPaymentEvent,
} from './provider.js';
import { postOwnWebhook } from './own-webhook.js';
import { sandboxSetupRoutes } from './sandbox-setup-routes.js';
import {
  SANDBOX_SIGNATURE_HEADER,
  type SandboxEventType,
  type SandboxProvider,
} from './sandbox-provider.js';

/** Largest webhook body read; providers' checkout events are a few KB. */
export const WEBHOOK_BODY_LIMIT_BYTES = 64 * 1024;
const SANDBOX_SESSION = /^sbx_[0-9a-f]{32}$/;

/** What the server needs to take payments. */
export interface PaymentsDeps {
  provider: PaymentProvider;
  /** The server's public base URL: checkout links, return redirects, the sandbox's own webhook. */
  publicUrl: () => string;
  /** How the sandbox page sends its webhook: global `fetch` unless given (tests route it to `app.request`). */
  deliver?: (url: string, init: RequestInit) => Promise<Response>;
  /**
   * What starts auto top-up purchases after spends. Absent, the app makes one over the
   * provider (when it can charge a saved method off-session); tests pass their own to await it.
   */
  autoTopUp?: AutoTopUpTrigger;
}

function isSandbox(provider: PaymentProvider): provider is SandboxProvider {
  return provider.name === 'sandbox' && 'sign' in provider && 'formToken' in provider;
}

/**
 * The payment routes, outside `/trpc` (so its JSON-only guard does not apply):
 * `POST /webhooks/:provider` and, for the sandbox, `GET /checkout/sandbox/:session` with
 * its `POST …/pay` and `…/decline`.
 *
 * @example
 * app.route('/', paymentRoutes({ payments, store, logger, metrics, clock }));
 */
export function paymentRoutes(deps: {
  payments: PaymentsDeps;
  store: Store;
  logger: Logger;
  metrics: Metrics;
  clock: () => number;
  /**
   * The server's cycle keeper and workspace cache: a paid plan order needs this cycle's AI
   * Token allowance granted before it tops it up, and the workspace's plan forgotten after.
   * Without them, a keeper of its own is made.
   */
  cycles?: CycleService;
  workspaces?: WorkspaceCache;
}) {
  const { provider, publicUrl } = deps.payments;
  const deliver = deps.payments.deliver ?? ((url: string, init: RequestInit) => fetch(url, init));
  const log = deps.logger.child({ component: 'payments', provider: provider.name });
  const routes = new Hono();
  const cycles =
    deps.cycles ??
    new CycleService({ store: deps.store, clock: deps.clock, workspaces: deps.workspaces });

  // ------------------------------------------------------------------ webhooks

  routes.post(
    '/webhooks/:provider',
    bodyLimit({
      maxSize: WEBHOOK_BODY_LIMIT_BYTES,
      onError: (c) => {
        deps.metrics.paymentWebhook({ provider: provider.name, result: 'PAYLOAD_TOO_LARGE' });
        return c.json({ received: false, reason: 'PAYLOAD_TOO_LARGE' }, 413);
      },
    }),
    async (c) => {
      if (c.req.param('provider') !== provider.name) {
        deps.metrics.paymentWebhook({ provider: 'unknown', result: 'UNKNOWN_PROVIDER' });
        return c.json(
          {
            received: false,
            reason: 'UNKNOWN_PROVIDER',
            message: `This server takes ${provider.name} webhooks.`,
          },
          404,
        );
      }
      // The raw text, exactly as signed: verification comes before any parsing or writing.
      const rawBody = await c.req.text();
      let event: VerifiedPaymentEvent;
      try {
        event = provider.verifyWebhook({ rawBody, headers: c.req.raw.headers, now: deps.clock() });
      } catch (e) {
        if (!(e instanceof WebhookVerificationError)) throw e;
        deps.metrics.paymentWebhook({ provider: provider.name, result: e.reason });
        log.warn({ reason: e.reason, bytes: rawBody.length }, `webhook refused: ${e.message}`);
        return c.json({ received: false, reason: e.reason, message: e.message }, e.status);
      }
      if (event.outcome === 'ignored') {
        deps.metrics.paymentWebhook({ provider: provider.name, result: 'ignored' });
        log.info({ eventId: event.eventId, type: event.type, note: event.note }, 'webhook ignored');
        return c.json({ received: true, result: 'ignored' });
      }
      if (event.outcome === 'method_saved') {
        const result = await saveMethod(deps, provider.name, event, log);
        deps.metrics.paymentWebhook({ provider: provider.name, result });
        return result === 'error'
          ? c.json({ received: false, reason: 'INTERNAL' }, 500)
          : c.json({ received: true, result });
      }
      let applied: Awaited<ReturnType<Store['billing']['applyPaymentEvent']>>;
      try {
        if (event.outcome === 'paid')
          await currentCycleFor(deps, cycles, provider.name, event.session);
        applied = await deps.store.billing.applyPaymentEvent({
          provider: provider.name,
          ...event,
          now: deps.clock(),
        });
      } catch (err) {
        // Nothing was claimed (the claim and its effect share a transaction): the provider retries.
        deps.metrics.paymentWebhook({ provider: provider.name, result: 'error' });
        log.error({ err, eventId: event.eventId, type: event.type }, 'webhook failed');
        return c.json({ received: false, reason: 'INTERNAL' }, 500);
      }
      const { result, order } = applied;
      deps.metrics.paymentWebhook({ provider: provider.name, result });
      // A paid plan order changed the plan: requests must not price with the old one.
      if (result === 'paid' && order?.kind === 'plan') deps.workspaces?.forget(order.workspaceId);
      if (order && order.createdBy === AUTO_TOP_UP_ACTOR && result !== 'duplicate') {
        // The auto top-up attempt follows its order (a failure here is caught up by the sweeper).
        await deps.store.autoTopUp
          .settle({ orderId: order.id, now: deps.clock() })
          .catch((err: unknown) =>
            log.error({ err, orderId: order.id }, 'auto top-up not settled'),
          );
      }
      const fields = {
        eventId: event.eventId,
        type: event.type,
        session: event.session,
        result,
        orderId: order?.id ?? null,
      };
      switch (result) {
        case 'paid':
        case 'declined':
        case 'expired':
          log.info(
            {
              ...fields,
              workspaceId: order?.workspaceId,
              wallet: order?.wallet,
              credits: order?.credits,
            },
            `order ${result}`,
          );
          break;
        case 'duplicate':
        case 'already_settled':
          log.info(fields, `webhook ${result.replace('_', ' ')}`);
          break;
        case 'unknown_order':
          log.warn(fields, 'webhook for a session with no order');
          break;
        case 'mismatch':
          // Signed by the provider but not this order's payment (another amount, currency or
          // order): no credits; audited as payment.mismatch for the admins to look into.
          log.error(
            {
              ...fields,
              workspaceId: order?.workspaceId,
              expected: order && {
                amount: order.priceCents,
                currency: order.currency,
                reference: order.id,
              },
              reported: event.payment,
              wrong: applied.mismatch,
            },
            'payment event does not match its order: refused',
          );
          break;
      }
      // 200 for duplicates and unknown orders too: retrying would not change the answer.
      return c.json({ received: true, result, orderId: order?.id ?? null });
    },
  );

  // ------------------------------------------------------------------ the sandbox's checkout page

  if (!isSandbox(provider)) return routes;
  const sandbox = provider;

  const page = (html: string, status: 200 | 403 | 404 | 502 = 200) =>
    new Response(html, {
      status,
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': CHECKOUT_PAGE_CSP,
        'cache-control': 'no-store',
      },
    });

  routes.get('/checkout/sandbox/:session', async (c) => {
    const session = c.req.param('session');
    const order = SANDBOX_SESSION.test(session)
      ? await deps.store.billing.orderBySession({ provider: sandbox.name, session })
      : null;
    if (!order)
      return page(
        renderCheckoutMessage({
          title: 'Checkout not found',
          message: 'This checkout link is not valid.',
        }),
        404,
      );
    const returnUrl = safeReturnPath(c.req.query('return') ?? `/billing?order=${order.id}`);
    const workspace = await deps.store.getWorkspace(order.workspaceId);
    const label =
      deps.store.catalogSnapshot().find((w) => w.kind === order.wallet)?.label ??
      DEFAULT_WALLET_CATALOG[order.wallet].label;
    const plan = order.planId ? await deps.store.billing.plan(order.planId) : null;
    return page(
      renderCheckoutPage({
        packLabel: plan ? planItemName(plan) : `${order.credits.toLocaleString('en-US')} ${label}`,
        priceCents: order.priceCents,
        currency: order.currency,
        workspaceName: workspace?.name ?? order.workspaceId,
        orderId: order.id,
        status: order.status,
        payAction: `${session}/pay`,
        declineAction: `${session}/decline`,
        fields: { token: sandbox.formToken({ session, returnUrl }), return: returnUrl },
        backUrl: returnLocation({
          publicUrl: publicUrl(),
          returnUrl,
          params: { status: order.status },
        }),
      }),
    );
  });

  const ACTIONS: Record<string, SandboxEventType> = {
    pay: 'checkout.paid',
    decline: 'checkout.declined',
  };

  routes.post(
    '/checkout/sandbox/:session/:action{pay|decline}',
    bodyLimit({ maxSize: 8 * 1024, onError: (c) => c.text('Request body too large', 413) }),
    async (c) => {
      const session = c.req.param('session');
      const type = ACTIONS[c.req.param('action')];
      const form: Record<string, unknown> = await c.req.parseBody().catch(() => ({}));
      const token = typeof form.token === 'string' ? form.token : '';
      const returnUrl = safeReturnPath(typeof form.return === 'string' ? form.return : '/');
      if (
        !type ||
        !SANDBOX_SESSION.test(session) ||
        !sandbox.checkFormToken({ session, returnUrl, token })
      ) {
        return page(
          renderCheckoutMessage({
            title: 'Checkout refused',
            message: 'Open the checkout page again and use its buttons.',
          }),
          403,
        );
      }
      const order = await deps.store.billing.orderBySession({ provider: sandbox.name, session });
      if (!order)
        return page(
          renderCheckoutMessage({
            title: 'Checkout not found',
            message: 'This checkout link is not valid.',
          }),
          404,
        );

      if (order.status === 'pending') {
        // Exactly what a real provider does: a signed event to the public webhook URL, over HTTP.
        const rawBody = sandbox.eventBody({ session, type, order });
        const signature = sandbox.sign({ rawBody, timestamp: Math.floor(deps.clock() / 1000) });
        const failure = await postOwnWebhook({
          deliver,
          publicUrl: publicUrl(),
          provider: sandbox.name,
          rawBody,
          headers: { [SANDBOX_SIGNATURE_HEADER]: signature },
        });
        if (failure !== null) {
          log.error({ session, orderId: order.id, failure }, 'sandbox webhook was not accepted');
          return page(
            renderCheckoutMessage({
              title: 'Payment not confirmed',
              message:
                'The payment could not be confirmed with the server. Nothing was charged; try again.',
              backUrl: returnLocation({
                publicUrl: publicUrl(),
                returnUrl,
                params: { status: 'pending' },
              }),
            }),
            502,
          );
        }
      }
      // Where the order stands now (paid or declined by this press; as it was if already settled).
      const after = (await deps.store.billing.order({ orderId: order.id })) ?? order;
      return c.redirect(
        returnLocation({ publicUrl: publicUrl(), returnUrl, params: { status: after.status } }),
        303,
      );
    },
  );

  routes.route(
    '/',
    sandboxSetupRoutes({ sandbox, store: deps.store, publicUrl, deliver, clock: deps.clock, page }),
  );
  return routes;
}

/**
 * Before a `paid` event for a pending plan order is applied: this cycle's AI Token allowance
 * of its workspace is granted (once, as any request would), so the upgrade's top-up counts it.
 */
async function currentCycleFor(
  deps: { store: Store; clock: () => number },
  cycles: CycleService,
  provider: string,
  session: string,
): Promise<void> {
  const order = await deps.store.billing.orderBySession({ provider, session });
  if (order?.kind !== 'plan' || order.status !== 'pending') return;
  const workspace = await deps.store.getWorkspace(order.workspaceId);
  if (workspace) await cycles.ensure(workspace, deps.clock());
}

/** A method the provider reports saved: stored for the workspace (the same method twice changes nothing). */
async function saveMethod(
  deps: { store: Store; clock: () => number },
  provider: string,
  event: SavedMethodReport & { eventId: string },
  log: Logger,
): Promise<'method_saved' | 'method_refused' | 'error'> {
  try {
    await deps.store.autoTopUp.savePaymentMethod({
      workspaceId: event.workspaceId,
      provider,
      customerRef: event.customerRef,
      methodRef: event.methodRef,
      label: event.label,
      createdBy: event.createdBy,
      now: deps.clock(),
    });
    log.info({ eventId: event.eventId, workspaceId: event.workspaceId }, 'payment method saved');
    return 'method_saved';
  } catch (err) {
    if (err instanceof CreditsError) {
      // A method of another workspace, or a workspace that is gone: retrying would not help.
      log.warn(
        { eventId: event.eventId, reason: err.reason },
        `payment method refused: ${err.message}`,
      );
      return 'method_refused';
    }
    log.error({ err, eventId: event.eventId }, 'payment method not saved');
    return 'error';
  }
}
