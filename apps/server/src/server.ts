import { serve, type ServerType } from '@hono/node-server';
import { RulesService, workspaceServices } from '@credits/api';
import { isCreditsError } from '@credits/domain';
import { openServingStore, type Store } from '@credits/store';
import { createApp } from './app.js';
import { createMetrics, metricsApp } from './metrics.js';
import { autoTopUpRunner, createPaymentProvider, defaultPublicUrl } from './payments/index.js';
import { startSweeper } from './sweeper.js';
import { createLogger, type Logger } from './logger.js';
import type { Env } from './env.js';

export interface RunningServer {
  port: number;
  store: Store;
  logger: Logger;
  close(): Promise<void>;
}

/** How long start-up keeps retrying a store that cannot be reached. */
export const STARTUP_RETRY_MS = 60_000;

/**
 * Run a start-up step again while the store answers STORE_UNAVAILABLE (a lost connection, a
 * database restarting), with backoff, for up to {@link STARTUP_RETRY_MS}; other errors end
 * the start at once.
 */
export async function untilStoreAnswers<T>(
  logger: Logger,
  step: string,
  run: () => Promise<T>,
  limitMs = STARTUP_RETRY_MS,
): Promise<T> {
  const started = Date.now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (err) {
      if (!isCreditsError(err) || err.reason !== 'STORE_UNAVAILABLE') throw err;
      if (Date.now() - started > limitMs) throw err;
      logger.warn({ err, step, attempt }, 'start-up step failed on the store; retrying');
      await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
    }
  }
}

/** Open the store, migrate, seed the rules, listen; SIGTERM drains and closes. */
export async function startServer(
  env: Env & { serviceKey: string | undefined },
  opts: { handleSignals?: boolean; logger?: Logger } = {},
): Promise<RunningServer> {
  const logger = opts.logger ?? createLogger(env);
  const clock = () => Date.now();
  const store = await openServingStore({
    url: env.DATABASE_URL,
    thread: env.STORE_THREAD,
    postgres: {
      max: env.PG_POOL_MAX,
      lockTimeoutMs: env.PG_LOCK_TIMEOUT_MS,
      statementTimeoutMs: env.PG_STATEMENT_TIMEOUT_MS,
      idleInTransactionTimeoutMs: env.PG_IDLE_IN_TRANSACTION_TIMEOUT_MS,
      // The pool drops the connection and opens another when needed; one request at most
      // fails (STORE_UNAVAILABLE), never the process.
      onConnectionError: (err) => logger.warn({ err }, 'database connection lost'),
    },
    // The store's thread died: nothing more can be written. Exit, so a supervisor restarts
    // the process (every acknowledged write is committed; callers retry with their keys).
    onFailure: (err) => {
      logger.fatal({ err }, 'the store worker stopped; exiting');
      process.exit(1);
    },
  });
  const rules = new RulesService(store, { refreshMs: env.RULES_REFRESH_MS, clock });
  // A database that drops a connection or is not up yet delays the start, never ends it
  // (each step is idempotent across processes; see untilStoreAnswers).
  await untilStoreAnswers(logger, 'migrate', () => store.migrate());
  await untilStoreAnswers(logger, 'seed rules', () => rules.seed(clock()));
  await untilStoreAnswers(logger, 'load rules', () => rules.current());
  const services = workspaceServices({ store, clock });
  const metrics = createMetrics(store);
  let ready = true;
  const paymentProvider = createPaymentProvider(env, logger);
  // PUBLIC_URL, else http://HOST:PORT once the port is known (PORT=0 picks one).
  let publicUrl = env.PUBLIC_URL ?? defaultPublicUrl(env.HOST, env.PORT);
  const app = createApp({
    store,
    rules,
    services,
    logger,
    metrics,
    clock,
    serviceKey: env.serviceKey,
    holdTtlMs: env.HOLD_TTL_SEC * 1000,
    trustProxy: env.TRUST_PROXY,
    insecureDevCookies: env.INSECURE_DEV_COOKIES,
    // With a metrics port, /metrics is served there only.
    metricsToken: env.METRICS_PORT === undefined ? env.METRICS_TOKEN : undefined,
    webDist: env.WEB_DIST,
    isReady: () => ready,
    payments: paymentProvider
      ? { provider: paymentProvider, publicUrl: () => publicUrl }
      : undefined,
  });
  const sweeper = startSweeper({
    store,
    clock,
    cycles: services.cycles,
    intervalMs: env.SWEEP_INTERVAL_MS,
    logger,
    autoTopUp: paymentProvider
      ? autoTopUpRunner({
          store,
          provider: paymentProvider,
          publicUrl: () => publicUrl,
          clock,
          logger,
        })
      : undefined,
  });
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch: app.fetch, port: env.PORT, hostname: env.HOST }, () => resolve(s));
  });
  const metricsServer: ServerType | null =
    env.METRICS_PORT === undefined
      ? null
      : await new Promise((resolve) => {
          const s = serve(
            {
              fetch: metricsApp(metrics, env.METRICS_TOKEN).fetch,
              port: env.METRICS_PORT,
              hostname: env.METRICS_HOST,
            },
            () => resolve(s),
          );
        });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  publicUrl = env.PUBLIC_URL ?? defaultPublicUrl(env.HOST, port);
  logger.info(
    { port, store: store.dialect, payments: paymentProvider?.name ?? 'off', publicUrl },
    `Credit Wallets listening on http://${env.HOST}:${port}`,
  );

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      ready = false;
      sweeper.stop();
      // Stop taking connections, let requests in flight finish, then drain the write queue.
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (metricsServer) await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
      await sweeper.idle();
      await store.close();
      logger.info('closed');
    })();
    return closing;
  };
  if (opts.handleSignals) {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      process.once(sig, () => {
        logger.info({ sig }, 'shutting down');
        void close().then(() => process.exit(0));
      });
    }
  }
  return { port, store, logger, close };
}
