import pino from 'pino';
import { RulesService } from '@credits/api';
import type { Store } from '@credits/store';
import { DIALECTS, type DialectFixture } from '@credits/store/testing';
import { createApp } from '../src/app.js';
import { createMetrics, type Metrics } from '../src/metrics.js';
import type { PaymentsDeps } from '../src/payments/index.js';

/** Re-exported for packages that test against the app but do not depend on the store. */
export { DIALECTS };

export const TEST_SERVICE_KEY = 'test-service-key-0123456789abcdef';
/** `/metrics` needs this bearer token in tests (`metricsToken`). */
export const TEST_METRICS_TOKEN = 'test-metrics-token-0123456789abcdef';
export const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

export interface TestApp {
  app: ReturnType<typeof createApp>;
  store: Store;
  rules: RulesService;
  metrics: Metrics;
  serviceKey: string;
  clock: { now(): number; advance(ms: number): void };
  /** A `fetch` that serves requests from the app in-process, for `createCreditsClient({ fetch })`. */
  fetch: typeof fetch;
  ready: { value: boolean };
  cleanup(): Promise<void>;
  /** The SQLite file behind a worker-thread store (whose driver is on its thread). */
  sqliteFile?: string;
}

/**
 * The Hono app over a fresh store of the given dialect (SQLite by default), rules seeded, a
 * silent logger, a clock the test moves and a known service key. No port is opened.
 */
export async function makeTestApp(
  opts: {
    dialect?: DialectFixture;
    holdTtlMs?: number;
    payments?: PaymentsDeps;
    /** TRUST_PROXY: proxies in front that append to X-Forwarded-For. */
    trustProxy?: number;
    /** Rows in one CSV export. */
    exportMaxRows?: number;
  } = {},
): Promise<TestApp> {
  const dialect = opts.dialect ?? DIALECTS[0]!;
  const { store, cleanup, sqliteFile } = await dialect.make();
  let t = T0;
  const clock = { now: () => t, advance: (ms: number) => void (t += ms) };
  const rules = new RulesService(store, { refreshMs: 0, clock: clock.now });
  await rules.seed(clock.now());
  const metrics = createMetrics(store);
  const ready = { value: true };
  const deps = {
    store,
    rules,
    logger: pino({ level: 'silent' }),
    metrics,
    clock: clock.now,
    // The bootstrap key from the environment (named `serviceKey` in AppDeps; `envServiceKey`
    // in the auth middleware): pass both so the harness follows either name.
    serviceKey: TEST_SERVICE_KEY,
    envServiceKey: TEST_SERVICE_KEY,
    holdTtlMs: opts.holdTtlMs ?? 3_600_000,
    isReady: () => ready.value,
    payments: opts.payments,
    metricsToken: TEST_METRICS_TOKEN,
    trustProxy: opts.trustProxy,
    exportMaxRows: opts.exportMaxRows,
  };
  const app = createApp(deps);
  const fetchFn = ((input: string | URL | Request, init?: RequestInit) =>
    app.fetch(new Request(input, init))) as typeof fetch;
  return {
    app,
    store,
    sqliteFile,
    rules,
    metrics,
    serviceKey: TEST_SERVICE_KEY,
    clock,
    fetch: fetchFn,
    ready,
    cleanup,
  };
}

/** Everything a user could see change in a workspace. */
export async function ledgerSnapshot(store: Store, workspaceId: string) {
  return {
    wallets: await store.wallets(workspaceId),
    history: (await store.history({ workspaceId, limit: 200 })).items,
    jobs: (await store.jobs({ workspaceId, limit: 200 })).items,
    lots: await store.lots({ workspaceId }),
    workspaces: await store.listWorkspaceIds(),
  };
}

/** Serve the app on a real port (0: any free one) on 127.0.0.1; returns its URL and a closer. */
export async function listen(
  app: TestApp['app'],
): Promise<{ url: string; close(): Promise<void> }> {
  const { serve } = await import('@hono/node-server');
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () => new Promise<void>((done) => server.close(() => done())),
      });
    });
  });
}
