import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { Order } from '@credits/store';
import {
  WEBHOOK_TOLERANCE_MS,
  WebhookVerificationError,
  joinUrl,
  safeReturnPath,
  type OffSessionPayments,
  type PaymentOutcome,
  type PaymentProvider,
  type VerifiedPaymentEvent,
} from './provider.js';

/** The header the sandbox signs its webhooks with: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const SANDBOX_SIGNATURE_HEADER = 'sandbox-signature';

/** The event types the sandbox sends, and what each does to the order. */
export const SANDBOX_EVENT_TYPES = {
  'checkout.paid': 'paid',
  'checkout.declined': 'declined',
  'checkout.expired': 'expired',
  // A payment on a saved method (auto top-up).
  'payment.succeeded': 'paid',
  'payment.declined': 'declined',
} as const satisfies Record<string, PaymentOutcome>;
export type SandboxEventType = keyof typeof SANDBOX_EVENT_TYPES;
/** A card saved on the sandbox's setup page. */
export const SANDBOX_METHOD_SAVED = 'payment_method.saved';

/**
 * The sandbox's saved cards, after Stripe's test cards: one that always pays, one that
 * always declines (its method id ends in its last four digits).
 */
export const SANDBOX_CARDS = { '4242': 'pays', '0002': 'declines' } as const;
export type SandboxCard = keyof typeof SANDBOX_CARDS;

const eventSchema = z.object({
  id: z.string().regex(/^evt_[A-Za-z0-9_]{1,100}$/),
  type: z.string().min(1).max(100),
  data: z.object({
    session: z.string().min(1).max(200),
    // What was paid (checkout.paid, payment.succeeded): the order's price, currency and id.
    amount: z.number().int().optional(),
    currency: z.string().min(1).max(10).optional(),
    reference: z.string().min(1).max(200).optional(),
    // payment_method.saved only
    workspaceId: z.string().min(1).max(100).optional(),
    createdBy: z.string().min(1).max(200).optional(),
    method: z
      .object({
        id: z.string().regex(/^sbx_pm_[0-9a-f]{32}_\d{4}$/),
        label: z.string().min(1).max(100),
      })
      .optional(),
  }),
});

/** The parts of an order a payment event reports back. */
export type PaidOrder = Pick<Order, 'id' | 'priceCents' | 'currency'>;

const paidFields = (order: PaidOrder) => ({
  amount: order.priceCents,
  currency: order.currency,
  reference: order.id,
});

/** The built-in provider: a checkout page served by this server, paid or declined by a button. */
export interface SandboxProvider extends PaymentProvider {
  readonly name: 'sandbox';
  /**
   * The JSON body of a sandbox event, with a fresh event id; it reports the order's price,
   * currency and id as what was paid.
   */
  eventBody(input: { session: string; type: SandboxEventType; order: PaidOrder }): string;
  /** The event that reports a card saved on the setup page, with a fresh event id and method. */
  methodSavedBody(input: {
    session: string;
    workspaceId: string;
    createdBy: string;
    card: SandboxCard;
  }): string;
  /** The token the setup page URL carries: only setup pages this server made can save a card. */
  setupToken(input: {
    session: string;
    workspaceId: string;
    createdBy: string;
    returnUrl: string;
  }): string;
  checkSetupToken(input: {
    session: string;
    workspaceId: string;
    createdBy: string;
    returnUrl: string;
    token: string;
  }): boolean;
  readonly offSession: OffSessionPayments;
  /** The `sandbox-signature` header for a body at a time (unix seconds), as the provider sends it. */
  sign(input: { rawBody: string; timestamp: number }): string;
  /** The token the checkout page embeds in its forms: only that page can pay or decline. */
  formToken(input: { session: string; returnUrl: string }): string;
  checkFormToken(input: { session: string; returnUrl: string; token: string }): boolean;
}

function hmacHex(key: string | Buffer, data: string): string {
  return createHmac('sha256', key).update(data, 'utf8').digest('hex');
}

function equalHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** `t=…,v1=…[,v1=…]` → the timestamp and every v1 signature; null when unreadable. */
function parseSignatureHeader(header: string): { timestamp: number; signatures: string[] } | null {
  let timestamp: number | null = null;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) return null;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/i.test(value)) signatures.push(value.toLowerCase());
  }
  return timestamp === null || signatures.length === 0 ? null : { timestamp, signatures };
}

/**
 * The sandbox provider. Its webhooks follow the same scheme as a real provider's: the body
 * is signed with HMAC-SHA256 over `"<t>.<rawBody>"`, and both the signature and the
 * timestamp (±5 minutes) are checked before anything is read from the body.
 *
 * @example
 * const sandbox = createSandboxProvider({ secret: process.env.SANDBOX_WEBHOOK_SECRET });
 * const body = sandbox.eventBody({ session, type: 'checkout.paid' });
 * const header = sandbox.sign({ rawBody: body, timestamp: Math.floor(Date.now() / 1000) });
 */
export function createSandboxProvider(input: { secret?: string } = {}): SandboxProvider {
  const secret = input.secret ?? randomBytes(32).toString('hex');
  // A key of its own for the page's form tokens, so a token can never pass for a signature.
  const formKey = createHmac('sha256', secret).update('sandbox checkout form').digest();
  const sign = ({ rawBody, timestamp }: { rawBody: string; timestamp: number }) =>
    `t=${timestamp},v1=${hmacHex(secret, `${timestamp}.${rawBody}`)}`;
  const formToken = ({ session, returnUrl }: { session: string; returnUrl: string }) =>
    hmacHex(formKey, `${session}\n${safeReturnPath(returnUrl)}`);
  const setupToken = (i: {
    session: string;
    workspaceId: string;
    createdBy: string;
    returnUrl: string;
  }) =>
    hmacHex(
      formKey,
      `setup\n${i.session}\n${i.workspaceId}\n${i.createdBy}\n${safeReturnPath(i.returnUrl)}`,
    );
  const eventBody = ({
    session,
    type,
    extra,
  }: {
    session: string;
    type: string;
    extra?: Record<string, unknown>;
  }) =>
    JSON.stringify({
      id: `evt_${randomBytes(12).toString('hex')}`,
      type,
      data: { session, ...extra },
    });

  return {
    name: 'sandbox',
    async createSession({ returnUrl, publicUrl }) {
      const session = `sbx_${randomBytes(16).toString('hex')}`;
      const url = `${joinUrl(publicUrl, `/checkout/sandbox/${session}`)}?return=${encodeURIComponent(safeReturnPath(returnUrl))}`;
      return { session, url };
    },
    verifyWebhook({ rawBody, headers, now }): VerifiedPaymentEvent {
      const header = headers.get(SANDBOX_SIGNATURE_HEADER);
      const parsed = header ? parseSignatureHeader(header) : null;
      if (!parsed)
        throw new WebhookVerificationError(
          'SIGNATURE_MISSING',
          `No readable ${SANDBOX_SIGNATURE_HEADER} header.`,
        );
      const expected = hmacHex(secret, `${parsed.timestamp}.${rawBody}`);
      if (!parsed.signatures.some((s) => equalHex(s, expected))) {
        throw new WebhookVerificationError(
          'SIGNATURE_INVALID',
          'The signature does not match the body.',
        );
      }
      if (Math.abs(now - parsed.timestamp * 1000) > WEBHOOK_TOLERANCE_MS) {
        throw new WebhookVerificationError(
          'TIMESTAMP_OUT_OF_RANGE',
          'The signed timestamp is more than 5 minutes from now.',
        );
      }
      let json: unknown;
      try {
        json = JSON.parse(rawBody);
      } catch {
        throw new WebhookVerificationError('PAYLOAD_INVALID', 'The body is not JSON.');
      }
      const event = eventSchema.safeParse(json);
      if (!event.success)
        throw new WebhookVerificationError('PAYLOAD_INVALID', 'The body is not a sandbox event.');
      const { id, type, data } = event.data;
      if (type === SANDBOX_METHOD_SAVED) {
        if (!data.workspaceId || !data.createdBy || !data.method)
          throw new WebhookVerificationError('PAYLOAD_INVALID', 'The saved method is incomplete.');
        return {
          eventId: id,
          type,
          outcome: 'method_saved',
          workspaceId: data.workspaceId,
          createdBy: data.createdBy,
          customerRef: null,
          methodRef: data.method.id,
          label: data.method.label,
        };
      }
      const outcome = Object.hasOwn(SANDBOX_EVENT_TYPES, type)
        ? SANDBOX_EVENT_TYPES[type as SandboxEventType]
        : null;
      const payment =
        data.amount === undefined && data.currency === undefined && data.reference === undefined
          ? null
          : {
              amount: data.amount ?? null,
              currency: data.currency ?? null,
              reference: data.reference ?? null,
            };
      return outcome
        ? { eventId: id, type, session: data.session, outcome, payment }
        : {
            eventId: id,
            type,
            session: data.session,
            outcome: 'ignored',
            note: 'not a checkout outcome',
          };
    },
    eventBody: ({ session, type, order }) => eventBody({ session, type, extra: paidFields(order) }),
    methodSavedBody: ({ session, workspaceId, createdBy, card }) =>
      eventBody({
        session,
        type: SANDBOX_METHOD_SAVED,
        extra: {
          workspaceId,
          createdBy,
          method: {
            id: `sbx_pm_${randomBytes(16).toString('hex')}_${card}`,
            label: `Sandbox card ending ${card}`,
          },
        },
      }),
    setupToken,
    checkSetupToken: ({ token, ...rest }) => equalHex(token, setupToken(rest)),
    offSession: {
      async createSetupSession({ workspaceId, createdBy, returnUrl, publicUrl }) {
        const session = `sbx_setup_${randomBytes(16).toString('hex')}`;
        const back = safeReturnPath(returnUrl);
        const query = new URLSearchParams({
          workspace: workspaceId,
          by: createdBy,
          return: back,
          token: setupToken({ session, workspaceId, createdBy, returnUrl: back }),
        });
        return {
          session,
          url: `${joinUrl(publicUrl, `/checkout/sandbox/setup/${session}`)}?${query.toString()}`,
        };
      },
      async createPayment() {
        return { session: `sbx_pi_${randomBytes(16).toString('hex')}` };
      },
      async confirmPayment({ order, method, session, now, selfWebhook }) {
        const declines = method.methodRef.endsWith('_0002');
        const rawBody = eventBody({
          session,
          type: declines ? 'payment.declined' : 'payment.succeeded',
          extra: paidFields(order),
        });
        // The sandbox answers as a provider would: by a signed webhook, never by this call.
        await selfWebhook(rawBody, {
          [SANDBOX_SIGNATURE_HEADER]: sign({ rawBody, timestamp: Math.floor(now / 1000) }),
        });
        return declines ? 'declined' : 'submitted';
      },
    },
    sign,
    formToken,
    checkFormToken: ({ session, returnUrl, token }) =>
      equalHex(token, formToken({ session, returnUrl })),
  };
}
