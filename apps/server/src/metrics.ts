import client from 'prom-client';
import type { Store } from '@credits/store';

/** Prometheus figures: requests, money operations, the write queue. */
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
    request(route: string, status: number, seconds: number) {
      requests.inc({ route, status: String(status) });
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
