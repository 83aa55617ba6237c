import { hash, timingSafeEqual } from 'node:crypto';
import { Hono, type MiddlewareHandler } from 'hono';
import client from 'prom-client';
import { appRouter } from '@credits/api';
import type { Store } from '@credits/store';

/** The label of a request whose route is not one the server knows. */
export const UNKNOWN_ROUTE = 'unknown';

const PROCEDURES: ReadonlySet<string> = new Set(Object.keys(appRouter._def.procedures));

/**
 * The `route` label of a `/trpc/…` request: the procedure's name when the path names exactly
 * one known procedure, `batch` when it names several known ones, {@link UNKNOWN_ROUTE}
 * otherwise. Never the raw path: anyone may send any path, and each label value is a series
 * kept for the life of the process.
 */
export function trpcRouteLabel(path: string): string {
  const names = path.slice('/trpc/'.length).split(',');
  if (!names.every((n) => PROCEDURES.has(n))) return UNKNOWN_ROUTE;
  return names.length === 1 ? `trpc:${names[0]}` : 'trpc:batch';
}

/**
 * Guard `/metrics` with a bearer token (timing-safe): 404 without one, so the endpoint's
 * existence is not advertised. Without a token configured `/metrics` is not served on the
 * public port at all (see {@link metricsApp} for a port of its own).
 */
export function metricsGuard(token: string | undefined): MiddlewareHandler {
  const want = token ? hash('sha256', token, 'buffer') : null;
  return async (c, next) => {
    const presented = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '')?.[1];
    if (!want || !presented || !timingSafeEqual(hash('sha256', presented, 'buffer'), want))
      return c.json({ error: 'Not found' }, 404);
    return next();
  };
}

/**
 * `/metrics` alone, for a port of its own (`METRICS_PORT`, bound to `METRICS_HOST`,
 * 127.0.0.1 by default); with `token` it also needs the bearer token.
 */
export function metricsApp(metrics: Metrics, token?: string) {
  const app = new Hono();
  if (token) app.use('/metrics', metricsGuard(token));
  app.get('/metrics', async (c) => {
    c.header('Content-Type', metrics.registry.contentType);
    return c.body(await metrics.registry.metrics());
  });
  return app;
}

/**
 * Prometheus figures: requests, money operations, the write queue. Every label comes from a
 * fixed set (procedure names, the app's route patterns, status codes, reasons), so the
 * number of series is bounded whatever clients send.
 */
export function createMetrics(store: Store) {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const requests = new client.Counter({
    name: 'credits_http_requests_total',
    help: 'HTTP requests by route and status',
    labelNames: ['route', 'status'] as const,
    registers: [registry],
  });
  const requestSeconds = new client.Histogram({
    name: 'credits_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  });
  const operations = new client.Counter({
    name: 'credits_operations_total',
    help: 'Money operations (reserve, capture, release, charge) by outcome',
    labelNames: ['op', 'outcome'] as const,
    registers: [registry],
  });
  const operationSeconds = new client.Histogram({
    name: 'credits_operation_duration_seconds',
    help: 'Money operation duration, pricing and commit included',
    labelNames: ['op'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const paymentWebhooks = new client.Counter({
    name: 'credits_payment_webhooks_total',
    help: 'Payment webhooks by provider and result (paid, declined, expired, duplicate, unknown_order, already_settled, ignored, or why it was refused)',
    labelNames: ['provider', 'result'] as const,
    registers: [registry],
  });
  new client.Gauge({
    name: 'credits_write_queue_depth',
    help: 'Write operations waiting for the next commit',
    registers: [registry],
    collect() {
      this.set(store.stats().queued);
    },
  });
  new client.Gauge({
    name: 'credits_store_commits',
    help: 'Commits since start (one commit may carry many operations)',
    registers: [registry],
    collect() {
      this.set(store.stats().commits);
    },
  });
  new client.Gauge({
    name: 'credits_store_writes',
    help: 'Write operations committed since start',
    registers: [registry],
    collect() {
      this.set(store.stats().writes);
    },
  });
  return {
    registry,
    /** `route` must come from a fixed set ({@link trpcRouteLabel}, the app's route patterns). */
    request(route: string, status: number, seconds: number) {
      requests.inc({
        route,
        status: Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : '0',
      });
      requestSeconds.observe({ route }, seconds);
    },
    operation(e: { op: string; ok: boolean; reason?: string; ms: number }) {
      operations.inc({ op: e.op, outcome: e.ok ? 'ok' : (e.reason ?? 'error') });
      operationSeconds.observe({ op: e.op }, e.ms / 1000);
    },
    paymentWebhook(e: { provider: string; result: string }) {
      paymentWebhooks.inc(e);
    },
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
