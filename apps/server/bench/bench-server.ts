/**
 * The server the bench measures, run as its own process (`bench.ts` spawns it), so the load
 * generator never shares a CPU thread with it. It wires the production pieces exactly as
 * `src/server.ts`'s `startServer` does (store → migrate → seeded rules → metrics → `createApp`
 * → sweeper → `@hono/node-server`), and varies only what the bench compares:
 *
 * - `BENCH_STORE=sqlite` (default): `openServingStore({ url: DATABASE_URL })`, the production
 *   SQLite store on its worker thread (WAL, `synchronous=FULL`, one group-commit write queue);
 *   `BENCH_THREAD=main` keeps it on the server's thread.
 * - `BENCH_STORE=postgres`: the PostgreSQL adapter in a schema of its own, made and dropped by
 *   `@credits/store/testing` (reads `TEST_DATABASE_URL`), so a bench never touches real data.
 * - `BENCH_PRICING=rules` (default): the real {@link RulesService}, compiled default rules.
 * - `BENCH_PRICING=fixed`: {@link FixedPriceRules}, a constant price (`BENCH_FIXED_CREDITS`).
 *
 * Everything else comes from the usual env (`src/env.ts`). When listening it prints one line
 * `BENCH_READY {"port":…}`; on SIGTERM, SIGINT or when its stdin closes (the bench died) it
 * stops, optionally runs `verify` (`BENCH_VERIFY=1`, printed as `BENCH_VERIFY {…}`), drops its
 * PostgreSQL schema and exits.
 */
import { serve, type ServerType } from '@hono/node-server';
import pino from 'pino';
import { RulesService, workspaceServices } from '@credits/api';
import { openServingStore, type Store } from '@credits/store';
import { createApp } from '../src/app.js';
import { parseEnv } from '../src/env.js';
import { createMetrics } from '../src/metrics.js';
import { startSweeper } from '../src/sweeper.js';
import { FixedPriceRules } from './fixed-price-rules.js';

interface OpenedStore {
  store: Store;
  /** Close the store and remove what the bench made (the PostgreSQL schema). */
  cleanup(): Promise<void>;
}

async function openBenchStore(kind: string, databaseUrl: string): Promise<OpenedStore> {
  if (kind === 'sqlite') {
    const store = await openServingStore({
      url: databaseUrl,
      thread: process.env.BENCH_THREAD === 'main' ? 'main' : 'worker',
    });
    await store.migrate();
    return { store, cleanup: () => store.close() };
  }
  if (kind === 'postgres') {
    const { DIALECTS } = await import('@credits/store/testing');
    const pg = DIALECTS.find((d) => d.name === 'postgres');
    if (!pg || pg.skip)
      throw new Error(`PostgreSQL store unavailable: ${pg?.skip ?? 'no fixture'}`);
    return pg.make(); // a fresh schema, migrated; cleanup drops it
  }
  throw new Error(`BENCH_STORE must be sqlite or postgres, got ${kind}`);
}

async function main(): Promise<void> {
  const env = parseEnv();
  const storeKind = process.env.BENCH_STORE ?? 'sqlite';
  const pricing = process.env.BENCH_PRICING ?? 'rules';
  const logger = pino({ level: env.LOG_LEVEL });
  const clock = () => Date.now();

  const serviceKey = env.serviceKey;
  if (!serviceKey) throw new Error('the bench server needs CREDITS_SERVICE_KEY');
  const { store, cleanup } = await openBenchStore(storeKind, env.DATABASE_URL);
  let rules: RulesService;
  if (pricing === 'fixed') {
    rules = new FixedPriceRules({ store, credits: Number(process.env.BENCH_FIXED_CREDITS ?? 10) });
  } else if (pricing === 'rules') {
    rules = new RulesService(store, { refreshMs: env.RULES_REFRESH_MS, clock });
  } else {
    throw new Error(`BENCH_PRICING must be rules or fixed, got ${pricing}`);
  }
  await rules.seed(clock());
  await rules.current();

  const metrics = createMetrics(store);
  let ready = true;
  const services = workspaceServices({ store, clock });
  const app = createApp({
    store,
    rules,
    services,
    logger,
    metrics,
    clock,
    serviceKey,
    holdTtlMs: env.HOLD_TTL_SEC * 1000,
    isReady: () => ready,
  });
  const sweeper = startSweeper({
    store,
    clock,
    cycles: services.cycles,
    intervalMs: env.SWEEP_INTERVAL_MS,
    logger,
  });
  // Requests whose client went away still run to the end; shutdown waits for them.
  let inFlight = 0;
  const fetch = async (req: Request) => {
    inFlight += 1;
    try {
      return await app.fetch(req);
    } finally {
      inFlight -= 1;
    }
  };
  const server: ServerType = await new Promise((resolve) => {
    const s = serve({ fetch, port: env.PORT, hostname: env.HOST }, () => resolve(s));
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : env.PORT;
  process.stdout.write(`BENCH_READY ${JSON.stringify({ port, store: store.dialect, pricing })}\n`);
  if (process.env.BENCH_DIAG === '1') startDiagnostics(store);

  let closing = false;
  const shutdown = async (why: string) => {
    if (closing) return;
    closing = true;
    ready = false;
    sweeper.stop();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      if ('closeAllConnections' in server) server.closeAllConnections();
    });
    for (const deadline = Date.now() + 10_000; inFlight > 0 && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, 10));
    }
    await sweeper.idle();
    if (process.env.BENCH_VERIFY === '1' && why !== 'stdin') {
      const started = performance.now();
      const report = await store.verify();
      const summary = {
        ok: report.ok,
        entries: report.entries,
        violations: report.violations.length,
        ms: Math.round(performance.now() - started),
      };
      process.stdout.write(`BENCH_VERIFY ${JSON.stringify(summary)}\n`);
    }
    await cleanup();
  };
  const exitAfter = (why: string) => {
    shutdown(why).then(
      () => process.exit(0),
      (err: unknown) => {
        console.error('bench server: shutdown failed', err);
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => exitAfter('SIGTERM'));
  process.once('SIGINT', () => exitAfter('SIGINT'));
  // The bench holds our stdin open; if it dies, stdin ends and we go too.
  process.stdin.on('end', () => exitAfter('stdin'));
  process.stdin.resume();
}

/**
 * BENCH_DIAG=1: once a second, on stderr, what the server did in that second: main-thread
 * event-loop utilization, process CPU (all threads), operations written and commits (so the
 * mean group-commit size). For finding where a phase's time goes; off by default.
 */
function startDiagnostics(store: Store): void {
  let elu = performance.eventLoopUtilization();
  let cpu = process.cpuUsage();
  let stats = store.stats();
  let at = performance.now();
  setInterval(() => {
    const nowElu = performance.eventLoopUtilization();
    const nowCpu = process.cpuUsage();
    const nowStats = store.stats();
    const nowAt = performance.now();
    const ms = nowAt - at;
    const writes = nowStats.writes - stats.writes;
    const commits = nowStats.commits - stats.commits;
    const cpuPct = ((nowCpu.user - cpu.user + nowCpu.system - cpu.system) / 1000 / ms) * 100;
    const writer: Record<string, number> = {};
    if (nowStats.writerMs && stats.writerMs) {
      for (const [k, v] of Object.entries(nowStats.writerMs)) {
        // Share of wall time the writer spent in each phase.
        writer[k] = Math.round(((v - stats.writerMs[k as keyof typeof stats.writerMs]) / ms) * 100);
      }
    }
    const line = {
      elu: Number(performance.eventLoopUtilization(nowElu, elu).utilization.toFixed(2)),
      cpuPct: Math.round(cpuPct),
      writesPerSec: Math.round((writes * 1000) / ms),
      perCommit: commits > 0 ? Number((writes / commits).toFixed(1)) : 0,
      writerPct: writer,
    };
    if (writes > 0) process.stderr.write(`BENCH_DIAG ${JSON.stringify(line)}\n`);
    elu = nowElu;
    cpu = nowCpu;
    stats = nowStats;
    at = nowAt;
  }, 1000).unref();
}

main().catch((err: unknown) => {
  console.error('bench server: failed to start:', err instanceof Error ? err.message : err);
  process.exit(1);
});
