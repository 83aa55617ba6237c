import type { Logger } from 'pino';
import type { Env } from '../env.js';
import type { PaymentProvider } from './provider.js';
import { createSandboxProvider } from './sandbox-provider.js';
import { createStripeProvider } from './stripe-provider.js';

export {
  WEBHOOK_REFUSALS,
  WEBHOOK_TOLERANCE_MS,
  WebhookVerificationError,
  paymentGateway,
  type PaymentOutcome,
  type OffSessionPayments,
  type PaymentProvider,
  type SavedMethodReport,
  type VerifiedPaymentEvent,
  type WebhookRefusal,
} from './provider.js';
export {
  createSandboxProvider,
  SANDBOX_CARDS,
  SANDBOX_SIGNATURE_HEADER,
  type SandboxProvider,
} from './sandbox-provider.js';
export { createStripeProvider, STRIPE_SIGNATURE_HEADER } from './stripe-provider.js';
export { paymentRoutes, WEBHOOK_BODY_LIMIT_BYTES, type PaymentsDeps } from './payment-routes.js';
export {
  autoTopUpRunner,
  autoTopUpTrigger,
  reconcileAutoTopUps,
  type AutoTopUpRun,
  type AutoTopUpRunner,
  type AutoTopUpTrigger,
} from './auto-top-up.js';

/**
 * The provider the settings ask for. Outside production the sandbox is the default; in
 * production it must be chosen explicitly (its Pay button adds credits for free), and with
 * no `PAYMENT_PROVIDER` checkout is off.
 */
export function createPaymentProvider(
  env: Pick<
    Env,
    | 'NODE_ENV'
    | 'PAYMENT_PROVIDER'
    | 'SANDBOX_WEBHOOK_SECRET'
    | 'STRIPE_SECRET_KEY'
    | 'STRIPE_WEBHOOK_SECRET'
  >,
  logger: Logger,
): PaymentProvider | null {
  const name = env.PAYMENT_PROVIDER ?? (env.NODE_ENV === 'production' ? null : 'sandbox');
  switch (name) {
    case null:
      logger.warn(
        'No PAYMENT_PROVIDER in production: checkout is off. Set PAYMENT_PROVIDER=stripe (or sandbox for a demo).',
      );
      return null;
    case 'sandbox':
      if (env.NODE_ENV === 'production')
        logger.warn(
          'PAYMENT_PROVIDER=sandbox in production: its checkout page adds credits without payment.',
        );
      if (!env.SANDBOX_WEBHOOK_SECRET)
        logger.info(
          'SANDBOX_WEBHOOK_SECRET is unset: a random one for this process (set one when running several).',
        );
      return createSandboxProvider({ secret: env.SANDBOX_WEBHOOK_SECRET });
    case 'stripe':
      if (!env.STRIPE_WEBHOOK_SECRET)
        throw new Error('PAYMENT_PROVIDER=stripe needs STRIPE_WEBHOOK_SECRET');
      return createStripeProvider({
        secretKey: env.STRIPE_SECRET_KEY,
        webhookSecret: env.STRIPE_WEBHOOK_SECRET,
      });
  }
}

/** `http://HOST:PORT`, for when PUBLIC_URL is not set (a wildcard host becomes the loopback). */
export function defaultPublicUrl(host: string, port: number): string {
  const h =
    host === '0.0.0.0' || host === '::' || host === ''
      ? '127.0.0.1'
      : host.includes(':')
        ? `[${host}]`
        : host;
  return `http://${h}:${port}`;
}
