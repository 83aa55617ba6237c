import type { PaymentGateway } from '@credits/api';
import type { Order, PaymentFacts, PaymentMethod } from '@credits/store';

/** What a verified payment event does to its order. */
export type PaymentOutcome = 'paid' | 'declined' | 'expired';

/**
 * A webhook whose signature and timestamp checked out. `ignored` events (types the ledger
 * has no use for) are acknowledged and never touch an order.
 */
export type VerifiedPaymentEvent =
  | {
      eventId: string;
      type: string;
      session: string;
      outcome: PaymentOutcome;
      /**
       * What the event says was paid (amount, currency, the order id it carries). A `paid`
       * outcome is applied only when all three are the order's; null where the event says nothing.
       */
      payment: PaymentFacts | null;
    }
  | { eventId: string; type: string; session: string | null; outcome: 'ignored'; note: string }
  | ({ eventId: string; type: string; outcome: 'method_saved' } & SavedMethodReport);

/** A payment method the owner saved at the provider for payments made without them. */
export interface SavedMethodReport {
  workspaceId: string;
  /** Who opened the setup page (an actor id). */
  createdBy: string;
  customerRef: string | null;
  methodRef: string;
  label: string;
}

/**
 * Payments on a saved method, made without the owner present (auto top-up). The outcome is
 * never taken from these calls: it arrives by the same verified webhook as a checkout's.
 */
export interface OffSessionPayments {
  /** A provider page where an owner saves a payment method; its webhook reports the method. */
  createSetupSession(input: {
    workspaceId: string;
    createdBy: string;
    /** The provider's customer from the method saved before, to keep one customer per workspace. */
    customerRef: string | null;
    returnUrl: string;
    publicUrl: string;
  }): Promise<{ session: string; url: string }>;
  /**
   * The payment for a pending order on a saved method, created but not yet confirmed: its
   * reference becomes the order's session before anything can report on it.
   */
  createPayment(input: { order: Order; method: PaymentMethod }): Promise<{ session: string }>;
  /**
   * Ask the provider to take the payment. `declined` when it says no at once (its webhook
   * follows); throws when it could not be asked (nothing known: the webhook, or the order's
   * expiry, settles it). `selfWebhook` posts a signed event to our own webhook route, for a
   * provider that reports that way (the sandbox).
   */
  confirmPayment(input: {
    order: Order;
    method: PaymentMethod;
    session: string;
    now: number;
    selfWebhook: (rawBody: string, headers: Record<string, string>) => Promise<void>;
  }): Promise<'submitted' | 'declined'>;
}

/**
 * Why a webhook was refused, with the HTTP status it is answered with. Signature and
 * timestamp problems are 401; a request we cannot read at all is 400. None of them writes.
 */
export const WEBHOOK_REFUSALS = {
  SIGNATURE_MISSING: 400,
  SIGNATURE_INVALID: 401,
  TIMESTAMP_OUT_OF_RANGE: 401,
  PAYLOAD_INVALID: 400,
} as const;
export type WebhookRefusal = keyof typeof WEBHOOK_REFUSALS;

/** A webhook that failed verification: answered with its `status` and `reason`, never applied. */
export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError';
  readonly status: (typeof WEBHOOK_REFUSALS)[WebhookRefusal];
  constructor(
    readonly reason: WebhookRefusal,
    message: string,
  ) {
    super(message);
    this.status = WEBHOOK_REFUSALS[reason];
  }
}

/** How far a webhook's signed timestamp may be from our clock, either way. */
export const WEBHOOK_TOLERANCE_MS = 5 * 60 * 1000;

/** Read-only request headers (the Fetch API's `Headers` fits). */
export interface HeaderReader {
  get(name: string): string | null;
}

/**
 * A payment provider: opens checkout sessions for pending orders and verifies the webhooks
 * that report how they ended. Verification is pure (no I/O, the clock passed in), so the
 * webhook route can refuse a forged or stale request before it touches the database.
 *
 * @example
 * const made = await provider.createSession({ order, returnUrl: '/billing?order=ord_1', publicUrl: 'https://credits.example' });
 * const event = provider.verifyWebhook({ rawBody, headers: req.headers, now: Date.now() }); // throws WebhookVerificationError
 */
export interface PaymentProvider {
  /** Stored on each order and used in the webhook path: `/webhooks/<name>`. */
  readonly name: string;
  createSession(input: {
    order: Order;
    returnUrl: string;
    publicUrl: string;
    /** What the provider's page calls the item (a plan order's plan); absent: the pack's credits. */
    itemName?: string;
  }): Promise<{ session: string; url: string }>;
  /** Throws {@link WebhookVerificationError} on a bad signature, stale timestamp or malformed payload. */
  verifyWebhook(input: {
    rawBody: string;
    headers: HeaderReader;
    now: number;
  }): VerifiedPaymentEvent;
  /** Saved methods and payments without the owner present (auto top-up), when supported. */
  readonly offSession?: OffSessionPayments;
}

/** The provider as the API's checkout sees it: bound to the server's public URL. */
export function paymentGateway(
  provider: PaymentProvider,
  publicUrl: () => string,
  /** The workspace's saved method's customer, for setup sessions (one customer per workspace). */
  customerOf?: (workspaceId: string) => Promise<string | null>,
): PaymentGateway {
  const offSession = provider.offSession;
  return {
    provider: provider.name,
    createSession: ({ order, returnUrl, itemName }) =>
      provider.createSession({ order, returnUrl, itemName, publicUrl: publicUrl() }),
    ...(offSession && {
      createSetupSession: async ({ workspaceId, createdBy, returnUrl }) =>
        offSession.createSetupSession({
          workspaceId,
          createdBy,
          customerRef: (await customerOf?.(workspaceId)) ?? null,
          returnUrl,
          publicUrl: publicUrl(),
        }),
    }),
  };
}

/** `returnUrl` (a path such as `/billing?order=…`) under the public URL, with extra query parameters. */
export function returnLocation(input: {
  publicUrl: string;
  returnUrl: string;
  params?: Record<string, string>;
}): string {
  const url = new URL(joinUrl(input.publicUrl, safeReturnPath(input.returnUrl)));
  for (const [k, v] of Object.entries(input.params ?? {})) url.searchParams.set(k, v);
  return url.toString();
}

/** `base` (which may end in a path) and an absolute path, joined without a doubled slash. */
export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path}`;
}

const RETURN_PATH = /^\/(?!\/)[A-Za-z0-9/_\-?=&.%]*$/;

/** A return path stays on our site: one leading slash, no scheme, no `//host`; anything else is `/`. */
export function safeReturnPath(path: string): string {
  return path.length <= 200 && RETURN_PATH.test(path) ? path : '/';
}
