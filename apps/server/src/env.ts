import { z } from 'zod';

/** Every setting the server reads, parsed once. */
const envSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    PORT: z.coerce.number().int().min(0).max(65_535).default(3000),
    HOST: z.string().default('127.0.0.1'),
    /** `postgres://…` selects PostgreSQL; otherwise the SQLite file. */
    DATABASE_URL: z.string().default('sqlite:./data/credits.db'),
    /**
     * Optional bootstrap service key (all scopes). Outside production a development key is
     * used when it is unset; in production only an explicitly set key is accepted. Real
     * service keys are minted with `credits keys create` and stored hashed.
     */
    CREDITS_SERVICE_KEY: z.string().min(16).optional(),
    /**
     * SQLite only: `worker` (default) runs the store, its write queue and its connections on a
     * worker thread of their own, so HTTP work never delays the writer; `main` keeps them on
     * the server's thread.
     */
    STORE_THREAD: z.enum(['worker', 'main']).default('worker'),
    /** PostgreSQL: connections per process. */
    PG_POOL_MAX: z.coerce.number().int().min(1).max(200).default(16),
    /**
     * PostgreSQL: the longest a request waits for a row lock (`lock_timeout`), runs one
     * statement (`statement_timeout`), or a transaction sits idle (`idle_in_transaction_session_timeout`),
     * in ms; past it the request fails with STORE_UNAVAILABLE (503, retry with the same key). 0 turns one off.
     */
    PG_LOCK_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
    PG_STATEMENT_TIMEOUT_MS: z.coerce.number().int().min(0).default(30_000),
    PG_IDLE_IN_TRANSACTION_TIMEOUT_MS: z.coerce.number().int().min(0).default(30_000),
    HOLD_TTL_SEC: z.coerce.number().int().min(10).max(86_400).default(3600),
    SWEEP_INTERVAL_MS: z.coerce.number().int().min(100).default(5000),
    RULES_REFRESH_MS: z.coerce.number().int().min(0).default(1000),
    LOG_LEVEL: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info'),
    /** `pretty` (coloured lines) or `json`; unset: pretty on a terminal outside production. */
    LOG_FORMAT: z.enum(['pretty', 'json']).optional(),
    /** Built web app to serve at `/`, if present. */
    WEB_DIST: z.string().optional(),
    /**
     * Payments (docs/payments.md): `sandbox` (the default outside production; a local checkout
     * page) or `stripe`. In production the provider must be named, or checkout is off.
     */
    PAYMENT_PROVIDER: z.enum(['sandbox', 'stripe']).optional(),
    /** HMAC secret of the sandbox's webhooks; random per process when unset (set it for several processes). */
    SANDBOX_WEBHOOK_SECRET: z.string().min(16).optional(),
    STRIPE_SECRET_KEY: z.string().min(1).optional(),
    /** The endpoint's signing secret (`whsec_…`) from the Stripe dashboard or `stripe listen`. */
    STRIPE_WEBHOOK_SECRET: z.string().min(1).optional(),
    /**
     * `/metrics` on the main port needs `Authorization: Bearer <METRICS_TOKEN>`; without it,
     * `/metrics` is not served on the main port (404).
     */
    METRICS_TOKEN: z.string().min(16).optional(),
    /** Serve `/metrics` on a port of its own (bound to METRICS_HOST) instead. */
    METRICS_PORT: z.coerce.number().int().min(1).max(65_535).optional(),
    METRICS_HOST: z.string().default('127.0.0.1'),
    /**
     * Development only, over plain http on a host name browsers do not treat as secure (not
     * localhost or 127.0.0.1): the session cookie without `__Host-` and `Secure`. Refused
     * with NODE_ENV=production.
     */
    INSECURE_DEV_COOKIES: z
      .enum(['true', 'false'])
      .default('false')
      .transform((v) => v === 'true'),
    /** Where browsers and providers reach this server (checkout links, webhooks); default `http://HOST:PORT`. */
    /**
     * How many reverse proxies stand in front of the server, each appending to
     * X-Forwarded-For: the client address is the entry that many hops from the right. `0` (or
     * `false`, the default): no proxy, the socket's peer. `true` means 1.
     */
    TRUST_PROXY: z
      .string()
      .regex(/^(true|false|\d{1,2})$/, 'a number of proxies (0, 1, 2…), true (1) or false (0)')
      .default('0')
      .transform((v) => (v === 'true' ? 1 : v === 'false' ? 0 : Number(v))),
    PUBLIC_URL: z
      .url({ protocol: /^https?$/ })
      .transform((u) => u.replace(/\/+$/, ''))
      .optional(),
  })
  .superRefine((env, ctx) => {
    if (env.INSECURE_DEV_COOKIES && env.NODE_ENV === 'production')
      ctx.addIssue({
        code: 'custom',
        path: ['INSECURE_DEV_COOKIES'],
        message: 'INSECURE_DEV_COOKIES is for development only; unset it in production',
      });
    if (env.PAYMENT_PROVIDER === 'stripe') {
      for (const key of ['STRIPE_SECRET_KEY', 'STRIPE_WEBHOOK_SECRET'] as const) {
        if (!env[key])
          ctx.addIssue({
            code: 'custom',
            path: [key],
            message: `PAYMENT_PROVIDER=stripe needs ${key}`,
          });
      }
    }
  });

export type Env = z.infer<typeof envSchema>;

/** The development key: printed at start, never accepted in production. */
export const DEV_SERVICE_KEY = 'dev-service-key-change-me';

export function parseEnv(
  source: NodeJS.ProcessEnv = process.env,
): Env & { serviceKey: string | undefined } {
  const env = envSchema.parse(source);
  const serviceKey =
    env.CREDITS_SERVICE_KEY ?? (env.NODE_ENV === 'production' ? undefined : DEV_SERVICE_KEY);
  return { ...env, serviceKey };
}
