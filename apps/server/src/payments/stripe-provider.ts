import { createRequire } from 'node:module';
import type Stripe from 'stripe';
import { DEFAULT_WALLET_CATALOG } from '@credits/domain';
import type { PaymentFacts } from '@credits/store';
import {
  WEBHOOK_TOLERANCE_MS,
  WebhookVerificationError,
  returnLocation,
  type OffSessionPayments,
  type PaymentOutcome,
  type PaymentProvider,
  type VerifiedPaymentEvent,
} from './provider.js';

export const STRIPE_SIGNATURE_HEADER = 'stripe-signature';

/** Checkout Session events and what each does to the order; every other event is acknowledged and ignored. */
const SESSION_EVENTS: Record<string, PaymentOutcome | 'completed'> = {
  // Paid at once (cards), or awaiting a delayed method: payment_status decides.
  'checkout.session.completed': 'completed',
  // A delayed method (bank debit) that cleared or failed after completion.
  'checkout.session.async_payment_succeeded': 'paid',
  'checkout.session.async_payment_failed': 'declined',
  'checkout.session.expired': 'expired',
};

/** Marks what auto top-up creates at Stripe (setup intents, payment intents) in their metadata. */
const AUTO_TOP_UP = 'auto_top_up';

/** Off-session payment events, for payment intents auto top-up made; others are Checkout's own. */
const PAYMENT_INTENT_EVENTS: Record<string, PaymentOutcome> = {
  'payment_intent.succeeded': 'paid',
  'payment_intent.payment_failed': 'declined',
};

type MetadataObject = {
  id?: unknown;
  customer?: unknown;
  payment_method?: unknown;
  metadata?: Record<string, unknown> | null;
  // payment intents
  amount_received?: unknown;
  currency?: unknown;
};

type CheckoutSessionObject = {
  id?: unknown;
  payment_status?: unknown;
  amount_total?: unknown;
  currency?: unknown;
  client_reference_id?: unknown;
  metadata?: Record<string, unknown> | null;
};

/**
 * What a Stripe object says was paid: the amount in minor units, the currency, and the order
 * it names. The reference is the one order id the object carries (`client_reference_id` and
 * `metadata.orderId` must agree where both are set), so an event naming another order, or
 * two, never matches.
 */
function paymentFacts(o: {
  amount: unknown;
  currency: unknown;
  reference?: unknown;
  metadata?: Record<string, unknown> | null;
}): PaymentFacts {
  const named = [o.reference, o.metadata?.orderId].filter(
    (r): r is string => typeof r === 'string' && r !== '',
  );
  return {
    amount: typeof o.amount === 'number' && Number.isSafeInteger(o.amount) ? o.amount : null,
    currency: typeof o.currency === 'string' ? o.currency : null,
    reference: named.length > 0 && named.every((r) => r === named[0]) ? named[0]! : null,
  };
}

/**
 * Stripe Checkout through the official `stripe` package. Sessions are created with the
 * order's own price (never a price id the dashboard could change) and the order id as
 * `client_reference_id` and metadata; webhooks are verified with `constructEvent`.
 *
 * @example
 * const stripe = createStripeProvider({ secretKey: env.STRIPE_SECRET_KEY, webhookSecret: env.STRIPE_WEBHOOK_SECRET });
 */
/**
 * The `stripe` package, loaded when a Stripe provider is first made: it is the largest module
 * the server imports (about a third of start-up's module loading), and a sandbox or
 * payment-less server never needs it.
 */
let stripePackage: typeof Stripe | undefined;
function loadStripe(): typeof Stripe {
  stripePackage ??= createRequire(import.meta.url)('stripe') as typeof Stripe;
  return stripePackage;
}

export function createStripeProvider(input: {
  webhookSecret: string;
  secretKey?: string;
  /** A client to use instead of one made from `secretKey` (tests pass one with a fake HTTP client). */
  stripe?: Stripe;
}): PaymentProvider {
  const stripe =
    input.stripe ??
    (input.secretKey
      ? new (loadStripe())(input.secretKey, { maxNetworkRetries: 2, timeout: 20_000 })
      : null);
  if (!stripe) throw new Error('the stripe provider needs STRIPE_SECRET_KEY');
  const toleranceSec = WEBHOOK_TOLERANCE_MS / 1000;

  const offSession: OffSessionPayments = {
    // A customer per workspace (kept from the method saved before), then Checkout in setup mode.
    async createSetupSession({ workspaceId, createdBy, customerRef, returnUrl, publicUrl }) {
      const customer =
        customerRef ??
        (
          await stripe.customers.create(
            { description: `Credit Wallets workspace ${workspaceId}`, metadata: { workspaceId } },
            { idempotencyKey: `credits-customer-${workspaceId}` },
          )
        ).id;
      const metadata = { workspaceId, createdBy, purpose: AUTO_TOP_UP };
      const session = await stripe.checkout.sessions.create({
        mode: 'setup',
        customer,
        // Cards only: a method auto top-up can charge at once, with the owner away.
        allowed_payment_method_types: ['card'],
        success_url: returnLocation({ publicUrl, returnUrl, params: { card: 'saved' } }),
        cancel_url: returnLocation({ publicUrl, returnUrl, params: { card: 'cancelled' } }),
        client_reference_id: workspaceId,
        metadata,
        setup_intent_data: { description: 'Credit Wallets auto top-up', metadata },
      });
      if (!session.url)
        throw new Error(`stripe returned setup session ${session.id} without a url`);
      return { session: session.id, url: session.url };
    },
    async createPayment({ order, method }) {
      const intent = await stripe.paymentIntents.create(
        {
          amount: order.priceCents,
          currency: order.currency,
          customer: method.customerRef ?? undefined,
          payment_method: method.methodRef,
          // No redirect-based methods: nobody is there to follow a redirect.
          automatic_payment_methods: { enabled: true, allow_redirects: 'never' },
          description: `Auto top-up: ${order.credits.toLocaleString('en-US')} ${DEFAULT_WALLET_CATALOG[order.wallet].label}`,
          metadata: {
            orderId: order.id,
            workspaceId: order.workspaceId,
            packId: order.packId,
            purpose: AUTO_TOP_UP,
          },
        },
        { idempotencyKey: `credits-topup-${order.id}` },
      );
      return { session: intent.id };
    },
    async confirmPayment({ order, session }) {
      try {
        await stripe.paymentIntents.confirm(
          session,
          { off_session: true },
          { idempotencyKey: `credits-topup-confirm-${order.id}` },
        );
        return 'submitted';
      } catch (e) {
        // Declined (or needing the owner present, which an off-session payment cannot have):
        // Stripe's payment_intent.payment_failed webhook settles the order.
        if (e instanceof stripe.errors.StripeCardError) return 'declined';
        throw e;
      }
    },
  };

  return {
    name: 'stripe',
    offSession,
    async createSession({ order, returnUrl, publicUrl, itemName }) {
      const label = DEFAULT_WALLET_CATALOG[order.wallet].label;
      const what: Record<string, string> =
        order.kind === 'plan' ? { planId: order.planId ?? '' } : { packId: order.packId ?? '' };
      const session = await stripe.checkout.sessions.create(
        {
          mode: 'payment',
          line_items: [
            {
              price_data: {
                currency: order.currency,
                unit_amount: order.priceCents,
                product_data: {
                  name: itemName ?? `${order.credits.toLocaleString('en-US')} ${label}`,
                },
              },
              quantity: 1,
            },
          ],
          success_url: returnLocation({ publicUrl, returnUrl, params: { status: 'paid' } }),
          cancel_url: returnLocation({ publicUrl, returnUrl, params: { status: 'cancelled' } }),
          client_reference_id: order.id,
          metadata: { orderId: order.id, workspaceId: order.workspaceId, ...what },
        },
        // Two checkouts racing for one order make one Stripe session.
        { idempotencyKey: `credits-checkout-${order.id}` },
      );
      if (!session.url)
        throw new Error(`stripe returned checkout session ${session.id} without a url`);
      return { session: session.id, url: session.url };
    },

    verifyWebhook({ rawBody, headers, now }): VerifiedPaymentEvent {
      const header = headers.get(STRIPE_SIGNATURE_HEADER);
      if (!header)
        throw new WebhookVerificationError(
          'SIGNATURE_MISSING',
          `No ${STRIPE_SIGNATURE_HEADER} header.`,
        );
      let event: Stripe.Event;
      try {
        // The tolerance only refuses old timestamps; the check below refuses ones from the future.
        event = stripe.webhooks.constructEvent(
          rawBody,
          header,
          input.webhookSecret,
          toleranceSec,
          undefined,
          now,
        );
      } catch (e) {
        if (e instanceof stripe.errors.StripeSignatureVerificationError) {
          if (/tolerance/i.test(e.message))
            throw new WebhookVerificationError(
              'TIMESTAMP_OUT_OF_RANGE',
              'The signed timestamp is more than 5 minutes old.',
            );
          if (/extract timestamp/i.test(e.message))
            throw new WebhookVerificationError(
              'SIGNATURE_MISSING',
              `No readable ${STRIPE_SIGNATURE_HEADER} header.`,
            );
          throw new WebhookVerificationError(
            'SIGNATURE_INVALID',
            'The signature does not match the body.',
          );
        }
        throw new WebhookVerificationError('PAYLOAD_INVALID', 'The body is not a Stripe event.');
      }
      const t = /(?:^|,)\s*t=(\d{1,12})\s*(?:,|$)/.exec(header)?.[1];
      if (t === undefined || Number(t) * 1000 - now > WEBHOOK_TOLERANCE_MS) {
        throw new WebhookVerificationError(
          'TIMESTAMP_OUT_OF_RANGE',
          'The signed timestamp is more than 5 minutes ahead.',
        );
      }
      if (typeof event.id !== 'string' || typeof event.type !== 'string') {
        throw new WebhookVerificationError('PAYLOAD_INVALID', 'The body is not a Stripe event.');
      }
      const auto = autoTopUpEvent(event);
      if (auto) return auto;
      const mapped = Object.hasOwn(SESSION_EVENTS, event.type)
        ? SESSION_EVENTS[event.type]
        : undefined;
      if (!mapped)
        return {
          eventId: event.id,
          type: event.type,
          session: null,
          outcome: 'ignored',
          note: 'not a checkout outcome',
        };
      const object = (event.data as { object?: CheckoutSessionObject } | undefined)?.object;
      if (typeof object?.id !== 'string')
        throw new WebhookVerificationError(
          'PAYLOAD_INVALID',
          'The event carries no checkout session.',
        );
      const session = object.id;
      const payment = paymentFacts({
        amount: object.amount_total,
        currency: object.currency,
        reference: object.client_reference_id,
        metadata: object.metadata,
      });
      if (mapped !== 'completed')
        return { eventId: event.id, type: event.type, session, outcome: mapped, payment };
      // Completed with payment still on its way (a delayed method): the async events settle it.
      if (object.payment_status === 'paid')
        return { eventId: event.id, type: event.type, session, outcome: 'paid', payment };
      return {
        eventId: event.id,
        type: event.type,
        session,
        outcome: 'ignored',
        note: `payment_status ${String(object.payment_status)}`,
      };
    },
  };
}

/**
 * Events of what auto top-up made at Stripe (its metadata says so): a saved card
 * (`setup_intent.succeeded`), an off-session payment that succeeded or failed. Null for any
 * other event.
 */
function autoTopUpEvent(event: Stripe.Event): VerifiedPaymentEvent | null {
  const object = (event.data as { object?: MetadataObject } | undefined)?.object;
  const meta = object?.metadata ?? null;
  if (!meta || meta.purpose !== AUTO_TOP_UP || typeof object?.id !== 'string') return null;
  if (event.type === 'setup_intent.succeeded') {
    const { workspaceId, createdBy } = meta;
    const method = object.payment_method;
    if (
      typeof workspaceId !== 'string' ||
      typeof createdBy !== 'string' ||
      typeof method !== 'string'
    )
      throw new WebhookVerificationError('PAYLOAD_INVALID', 'The setup intent names no method.');
    return {
      eventId: event.id,
      type: event.type,
      outcome: 'method_saved',
      workspaceId,
      createdBy,
      customerRef: typeof object.customer === 'string' ? object.customer : null,
      methodRef: method,
      label: 'Card saved with Stripe',
    };
  }
  const outcome = Object.hasOwn(PAYMENT_INTENT_EVENTS, event.type)
    ? PAYMENT_INTENT_EVENTS[event.type]
    : undefined;
  if (!outcome) return null;
  const payment = paymentFacts({
    amount: object.amount_received,
    currency: object.currency,
    metadata: meta,
  });
  return { eventId: event.id, type: event.type, session: object.id, outcome, payment };
}
