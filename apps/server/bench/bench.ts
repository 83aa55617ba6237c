/**
 * `pnpm bench`: spend over HTTP against a tRPC no-op baseline measured in the same run, on
 * SQLite and PostgreSQL, and quotes per second in-process.
 *
 * Every spend figure is a RATIO to the no-op (`GET /trpc/health.check`) because the machine
 * is shared and noisy: absolute figures move run to run, the ratio much less. To keep the two
 * sides under the same conditions, each phase alternates no-op and spend slices on the same
 * server (BENCH_ROUNDS × each, BENCH_SECONDS in total for each side) and divides the one by
 * the other. The servers run as child processes (`bench-server.ts`: production wiring, SQLite
 * with `synchronous=FULL`, LOG_LEVEL=warn); the load generator (autocannon, closed loop, one
 * request in flight per connection, 64 connections) runs here. Loopback only; every child and
 * temp file is removed at the end, also on failure or Ctrl-C.
 *
 * Phases (BENCH_ONLY=id,id… runs a subset):
 *  - charge_sqlite_rules    `usage.charge`, full path (rules pricing + ledger write), AI-token
 *                           and image jobs, SQLite;
 *  - pairs_sqlite_rules     `usage.reserve` → `usage.capture` (capture with the actual job, as
 *                           `runWithCredits` does), SQLite;
 *  - charge_sqlite_fixed    `usage.charge` with a constant price (`FixedPriceRules`): the
 *                           store's share of the path;
 *  - charge_postgres_rules  `usage.charge`, full path, PostgreSQL in a schema of its own
 *                           (skipped with a line when unreachable); when `pgbench` is
 *                           installed, each round also runs `pgbench -N` (BENCH_CONNECTIONS
 *                           clients, the slice's length) on a scratch database of its own
 *                           (BENCH_PGBENCH_DB, default credits_pgbench_<run id>; created,
 *                           `pgbench -i`, dropped at the end), and the charge is printed as a
 *                           ratio to its transactions/s too (BENCH_PGBENCH=off skips it);
 *  - quotes                 quotes/s in-process, compiled fast path vs json-rules-engine
 *                           (`packages/rules/bench/quotes.ts`, when it exists).
 *
 * Settings (env): BENCH_SECONDS (6: per side per phase), BENCH_ROUNDS (3), BENCH_WARMUP_SECONDS
 * (1), BENCH_CONNECTIONS (64), BENCH_WORKSPACES (16: spend is spread over this many workspaces,
 * each granted 10^9 credits per wallet), BENCH_PG_URL or a postgres:// DATABASE_URL (default
 * postgres://postgres@127.0.0.1:5432/test; BENCH_PG=off skips), BENCH_VERIFY=1 (each server runs
 * the ledger's `verify` after its load), BENCH_CPU_PROF=DIR (servers run with `--cpu-prof` into
 * DIR), BENCH_DIAG=1 (each server prints once a second its event-loop use, CPU, writes/s,
 * operations per commit and the SQLite writer's time split: open, operations, steps, flush,
 * commit), BENCH_THREAD=main (the SQLite store on the server's thread instead of its worker
 * thread), BENCH_RESULTS=FILE (the JSON; default a temp file, whose path is printed; the JSON is
 * also the last line of stdout). The figures are information: the bench exits 0 when a target
 * is not met, and 1 only when it cannot measure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { IMAGE_QUALITIES, IMAGE_TYPES, type Job } from '@credits/rules';
import {
  runLoad,
  summarize,
  type LoadSlice,
  type LoadStep,
  type LoadSummary,
  type StepContext,
} from './load.js';
import { preparePgbench, type PgbenchDatabase, type PgbenchRun } from './pgbench.js';

const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
const SERVER_DIR = dirname(BENCH_DIR);
const QUOTES_BENCH = join(SERVER_DIR, '..', '..', 'packages', 'rules', 'bench', 'quotes.ts');

function numberSetting(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new Error(`${name} must be a number in [${min}, ${max}], got ${raw}`);
  }
  return n;
}

const SECONDS = numberSetting('BENCH_SECONDS', 6, 1, 120);
const WARMUP_SECONDS = numberSetting('BENCH_WARMUP_SECONDS', 1, 0, 30);
const ROUNDS = Math.round(numberSetting('BENCH_ROUNDS', 3, 1, 20));
const CONNECTIONS = numberSetting('BENCH_CONNECTIONS', 64, 1, 1024);
const WORKSPACES = numberSetting('BENCH_WORKSPACES', 16, 1, 1000);
const VERIFY = process.env.BENCH_VERIFY === '1';
const CPU_PROF = process.env.BENCH_CPU_PROF;
const PG_URL =
  process.env.BENCH_PG_URL ??
  (/^postgres(ql)?:\/\//.test(process.env.DATABASE_URL ?? '')
    ? process.env.DATABASE_URL!
    : undefined) ??
  'postgres://postgres@127.0.0.1:5432/test';
const PG_ENABLED = process.env.BENCH_PG !== 'off';
const PGBENCH_ENABLED = process.env.BENCH_PGBENCH !== 'off';
const SERVICE_KEY = randomBytes(24).toString('hex');
const GRANT_PER_WALLET = 1_000_000_000;
/** The whole run is bounded: a stuck phase cannot hang CI. */
const RUN_LIMIT_MS = Math.max(180_000, (2 * SECONDS + 1.5 * WARMUP_SECONDS) * 6_000 + 120_000);

// ------------------------------------------------------------------ children and temp data

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
const scratchDatabases = new Set<PgbenchDatabase>();

function cleanupNow(): void {
  for (const db of scratchDatabases) db.drop();
  scratchDatabases.clear();
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  children.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}
process.on('exit', cleanupNow);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`\nbench: ${sig}, stopping servers and removing temp data`);
    cleanupNow();
    process.exit(130);
  });
}

interface VerifySummary {
  ok: boolean;
  entries: number;
  violations: number;
  ms: number;
}

interface BenchServer {
  label: string;
  pid: number;
  baseUrl: string;
  /** SIGTERM, wait (verify may run), then SIGKILL after a grace period. */
  stop(): Promise<VerifySummary | null>;
}

/** Spawn `bench-server.ts` with tsx in its own process and wait for its ready line. */
async function startBenchServer(input: {
  label: string;
  env: Record<string, string>;
}): Promise<BenchServer> {
  const nodeArgs = ['--import', 'tsx'];
  // One folder per server: every thread (tsx runs a loader thread) writes its own profile.
  if (CPU_PROF) nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${join(CPU_PROF, input.label)}`);
  const child = spawn(process.execPath, [...nodeArgs, join(BENCH_DIR, 'bench-server.ts')], {
    cwd: SERVER_DIR,
    env: {
      ...process.env,
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      HOST: '127.0.0.1',
      PORT: '0',
      CREDITS_SERVICE_KEY: SERVICE_KEY,
      BENCH_VERIFY: VERIFY ? '1' : '0',
      ...input.env,
    },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.add(child);
  // 'close' comes after the child's stdout is drained (its last lines read).
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  void exited.then(() => children.delete(child));

  let verify: VerifySummary | null = null;
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`${input.label}: not ready after 60 s`)),
      60_000,
    );
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.startsWith('BENCH_READY ')) {
        clearTimeout(timer);
        resolve((JSON.parse(line.slice('BENCH_READY '.length)) as { port: number }).port);
      } else if (line.startsWith('BENCH_VERIFY ')) {
        verify = JSON.parse(line.slice('BENCH_VERIFY '.length)) as VerifySummary;
      } else {
        console.log(`  [${input.label}] ${line}`);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(`${input.label}: server exited before ready (code ${code}, signal ${signal})`),
      );
    });
  }).catch(async (err: unknown) => {
    child.kill('SIGKILL');
    await exited;
    throw err;
  });

  return {
    label: input.label,
    pid: child.pid!,
    baseUrl: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
        await exited;
        clearTimeout(timer);
      }
      return verify;
    },
  };
}

// ------------------------------------------------------------------ workload

/** A small deterministic PRNG, so every run draws the same jobs. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Half AI-token jobs (1–2,000 tokens), half image jobs across every type and quality. */
function jobPool(size: number): Job[] {
  const r = mulberry32(0xc0ffee);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const jobs: Job[] = [];
  for (let i = 0; i < size; i++) {
    if (r() < 0.5) {
      jobs.push({ kind: 'ai', tokens: 1 + Math.floor(r() * 2000) });
    } else {
      const quality = pick([...IMAGE_QUALITIES, undefined]);
      jobs.push({
        kind: 'image',
        type: pick(IMAGE_TYPES),
        count: 1 + Math.floor(r() * 4),
        ...(quality ? { quality } : {}),
      });
    }
  }
  return jobs;
}

const JOBS = jobPool(4096);
const RUN_ID = randomBytes(4).toString('hex');
let sequence = 0;
const workspaceIds = Array.from({ length: WORKSPACES }, (_, i) => `bench-ws-${i}`);

/** The next job: a workspace and job drawn round-robin, a never-used idempotency key. */
function nextSpend(): { workspaceId: string; job: Job; idempotencyKey: string } {
  const n = sequence++;
  return {
    workspaceId: workspaceIds[n % WORKSPACES]!,
    job: JOBS[(n * 7919) % JOBS.length]!,
    idempotencyKey: `bench-${RUN_ID}-${n}`,
  };
}

const authHeaders = {
  authorization: `Bearer ${SERVICE_KEY}`,
  'content-type': 'application/json',
};

async function trpcMutation(baseUrl: string, path: string, input: unknown): Promise<unknown> {
  const res = await fetch(`${baseUrl}/trpc/${path}`, {
    method: 'POST',
    headers: authHeaders,
    body: JSON.stringify(input),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${text.slice(0, 500)}`);
  return JSON.parse(text);
}

/** Workspaces on the Business plan (no trial lot), 10^9 credits in the AI and image wallets. */
async function seedWorkspaces(server: BenchServer): Promise<void> {
  await Promise.all(
    workspaceIds.map(async (id) => {
      await trpcMutation(server.baseUrl, 'admin.workspaces.create', {
        id,
        name: `Bench ${id}`,
        plan: 'business',
        idempotencyKey: `bench-create-${id}`,
      });
      for (const wallet of ['ai_tokens', 'image_credits'] as const) {
        await trpcMutation(server.baseUrl, 'admin.ledger.grant', {
          workspaceId: id,
          wallet,
          amount: GRANT_PER_WALLET,
          source: 'purchase',
          reason: 'bench credits',
          idempotencyKey: `bench-grant-${id}-${wallet}`,
        });
      }
    }),
  );
}

const NOOP: LoadStep[] = [{ name: 'health.check', method: 'GET', path: '/trpc/health.check' }];

const CHARGE: LoadStep[] = [
  {
    name: 'usage.charge',
    method: 'POST',
    path: '/trpc/usage.charge',
    body: () => JSON.stringify(nextSpend()),
  },
];

/** A reserve, then a capture of the same job (as `runWithCredits` does) on the hold it returned. */
const RESERVE_CAPTURE: LoadStep[] = [
  {
    name: 'usage.reserve',
    method: 'POST',
    path: '/trpc/usage.reserve',
    body: (ctx) => {
      const spend = nextSpend();
      ctx.spend = spend;
      ctx.holdId = undefined;
      return JSON.stringify(spend);
    },
    onAnswer: ({ status, body, ctx }) => {
      if (status === 200) {
        ctx.holdId = (
          JSON.parse(body) as { result: { data: { holdId: string } } }
        ).result.data.holdId;
      }
    },
  },
  {
    name: 'usage.capture',
    method: 'POST',
    path: '/trpc/usage.capture',
    body: (ctx: StepContext) => {
      const spend = ctx.spend as ReturnType<typeof nextSpend>;
      return JSON.stringify({
        workspaceId: spend.workspaceId,
        // A failed reserve leaves no hold: the capture then fails too, and is counted.
        holdId: (ctx.holdId as string | undefined) ?? 'no-hold',
        actual: spend.job,
        idempotencyKey: `${spend.idempotencyKey}:capture`,
      });
    },
  },
];

// ------------------------------------------------------------------ phases

interface Phase {
  id: PhaseId;
  label: string;
  store: 'sqlite' | 'postgres';
  pricing: 'rules' | 'fixed';
  /** Requests per operation (a reserve→capture pair is 2). */
  requestsPerOp: number;
  spend: LoadSummary;
  /** The no-op slices interleaved with this phase's spend slices, on the same server. */
  noop: LoadSummary;
  /** spend ops/s ÷ paired no-op req/s. */
  ratio: number;
  /** spend p99 ÷ the paired no-op slices' p99. */
  p99Ratio: number;
}

const PHASE_IDS = [
  'charge_sqlite_rules',
  'pairs_sqlite_rules',
  'charge_sqlite_fixed',
  'charge_postgres_rules',
  'quotes',
] as const;
type PhaseId = (typeof PHASE_IDS)[number];

const ONLY = new Set(
  (process.env.BENCH_ONLY ?? PHASE_IDS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
for (const id of ONLY) {
  if (!(PHASE_IDS as readonly string[]).includes(id)) {
    throw new Error(`BENCH_ONLY: unknown phase ${id} (phases: ${PHASE_IDS.join(', ')})`);
  }
}
const selected = (id: PhaseId) => ONLY.has(id);

const phases: Phase[] = [];
const noopSlices: LoadSlice[] = [];
const pgbenchRuns: PgbenchRun[] = [];

/** The pgbench rounds merged: transactions over time, latency weighted by transactions. */
function pgbenchSummary(): { tps: number; latencyAvgMs: number } | null {
  if (!pgbenchRuns.length) return null;
  const seconds = pgbenchRuns.reduce((t, r) => t + r.seconds, 0);
  const tx = pgbenchRuns.reduce((t, r) => t + r.tps * r.seconds, 0);
  const latency = pgbenchRuns.reduce((t, r) => t + r.latencyAvgMs * r.tps * r.seconds, 0) / tx;
  return { tps: tx / seconds, latencyAvgMs: latency };
}
const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtMs = (n: number) => (Number.isFinite(n) ? n.toFixed(n < 10 ? 2 : 1) : '—');
const fmtCpu = (s: LoadSummary) =>
  `CPU server ${s.serverCpuPct === null ? '?' : s.serverCpuPct.toFixed(0)}%, load gen ${s.clientCpuPct.toFixed(0)}%`;

function describe(kind: string, s: LoadSummary): string {
  const l = s.latencyMs;
  return (
    `    ${kind.padEnd(6)} ${fmtInt(s.opsPerSec).padStart(7)}/s  p50 ${fmtMs(l.p50)}  p90 ${fmtMs(l.p90)}` +
    `  p99 ${fmtMs(l.p99)}  p99.9 ${fmtMs(l.p999)}  max ${fmtMs(l.max)} ms  | non-2xx ${s.failed}, errors ${s.errors}  | ${fmtCpu(s)}`
  );
}

/**
 * Warm up, then alternate no-op and spend slices on the same server (ROUNDS of each, SECONDS
 * in total for each), so both see the same machine: the ratio is what cancels the noise.
 */
async function measure(input: {
  server: BenchServer;
  id: PhaseId;
  label: string;
  store: Phase['store'];
  pricing: Phase['pricing'];
  steps: LoadStep[];
  /** Runs after each round's spend slice (pgbench beside the PostgreSQL charge). */
  afterRound?: (sliceSeconds: number) => Promise<void>;
}): Promise<Phase> {
  const run = (steps: LoadStep[], seconds: number) =>
    runLoad({
      baseUrl: input.server.baseUrl,
      headers:
        steps[0]!.method === 'GET' ? { authorization: authHeaders.authorization } : authHeaders,
      steps,
      seconds,
      connections: CONNECTIONS,
      serverPid: input.server.pid,
    });
  if (WARMUP_SECONDS > 0) {
    await run(NOOP, WARMUP_SECONDS / 2);
    await run(input.steps, WARMUP_SECONDS);
  }
  const slice = SECONDS / ROUNDS;
  const noop: LoadSlice[] = [];
  const spend: LoadSlice[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    noop.push(await run(NOOP, slice));
    spend.push(await run(input.steps, slice));
    if (input.afterRound) await input.afterRound(slice);
  }
  noopSlices.push(...noop);
  const s = summarize(spend);
  const n = summarize(noop);
  const phase: Phase = {
    id: input.id,
    label: input.label,
    store: input.store,
    pricing: input.pricing,
    requestsPerOp: input.steps.length,
    spend: s,
    noop: n,
    ratio: s.opsPerSec / n.opsPerSec,
    p99Ratio: s.latencyMs.p99 / n.latencyMs.p99,
  };
  phases.push(phase);
  console.log(
    `  ${input.label}: ${phase.ratio.toFixed(2)}× the no-op, p99 ${phase.p99Ratio.toFixed(2)}× the no-op's p99`,
  );
  console.log(describe(input.steps.length > 1 ? 'pairs' : 'spend', s));
  console.log(describe('no-op', n));
  if (s.firstFailure) console.log(`    first failure: ${s.firstFailure}`);
  if (n.firstFailure) console.log(`    first no-op failure: ${n.firstFailure}`);
  return phase;
}

function reachable(url: string, timeoutMs: number): Promise<string | null> {
  let host: string;
  let port: number;
  try {
    const u = new URL(url);
    host = u.hostname || '127.0.0.1';
    port = Number(u.port || 5432);
  } catch {
    return Promise.resolve(`cannot parse ${url}`);
  }
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (why: string | null) => {
      socket.destroy();
      resolve(why);
    };
    socket.setTimeout(timeoutMs, () =>
      done(`no answer from ${host}:${port} within ${timeoutMs} ms`),
    );
    socket.once('connect', () => done(null));
    socket.once('error', (e) => done(`${host}:${port}: ${e.message}`));
  });
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}

interface QuoteFigures {
  fastPerSec: number;
  enginePerSec: number;
}

async function quoteBench(durationMs: number): Promise<QuoteFigures | string> {
  if (!existsSync(QUOTES_BENCH)) return 'packages/rules/bench/quotes.ts does not exist yet';
  const mod = (await import(pathToFileURL(QUOTES_BENCH).href)) as { benchQuotes?: unknown };
  if (typeof mod.benchQuotes !== 'function')
    return 'packages/rules/bench/quotes.ts exports no benchQuotes()';
  const bench = mod.benchQuotes as (input: { durationMs: number }) => Promise<QuoteFigures>;
  const figures = await bench({ durationMs });
  if (!Number.isFinite(figures.fastPerSec) || !Number.isFinite(figures.enginePerSec)) {
    return `benchQuotes() answered ${JSON.stringify(figures)}`;
  }
  return figures;
}

/** Start a server, seed it, run `body`, stop it (verify first when asked); always stops. */
async function withServer(
  input: { label: string; env: Record<string, string> },
  body: (server: BenchServer) => Promise<void>,
): Promise<VerifySummary | null> {
  const server = await startBenchServer(input);
  let verify: VerifySummary | null = null;
  try {
    await seedWorkspaces(server);
    await body(server);
  } finally {
    verify = await server.stop();
  }
  if (verify) {
    console.log(
      `  verify ${input.label}: ${verify.ok ? 'clean' : `${verify.violations} VIOLATIONS`} ` +
        `(${fmtInt(verify.entries)} ledger entries, ${verify.ms} ms)`,
    );
  }
  return verify;
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const started = performance.now();
  const dataDir = mkdtempSync(join(tmpdir(), 'credits-bench-'));
  tempDirs.add(dataDir);
  if (CPU_PROF) rmSync(CPU_PROF, { recursive: true, force: true });

  console.log('Credit Wallets bench');
  console.log(
    `  node ${process.version}, ${cpus().length} CPUs; ${CONNECTIONS} connections; per phase ${WARMUP_SECONDS} s warm-up, then ` +
      `${ROUNDS} × (${fmtMs(SECONDS / ROUNDS)} s no-op, ${fmtMs(SECONDS / ROUNDS)} s spend); spend over ${WORKSPACES} workspaces`,
  );
  console.log(
    `  SQLite data in ${dataDir} (synchronous=FULL, WAL); servers LOG_LEVEL=warn, NODE_ENV=production`,
  );
  console.log(
    '  no-op = GET /trpc/health.check; latencies per request, client side, ms; ratio = spend ops/s ÷ no-op req/s',
  );
  if (CPU_PROF) console.log(`  CPU profiles of the servers go to ${CPU_PROF}`);
  console.log(
    `  machine load average at start: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} (${cpus().length} CPUs)`,
  );

  const notes: string[] = [];
  const verifies: Record<string, VerifySummary | null> = {};

  if (selected('charge_sqlite_rules') || selected('pairs_sqlite_rules')) {
    console.log('\nSQLite server, rules pricing (full path)');
    const label = 'sqlite-rules';
    verifies[label] = await withServer(
      {
        label,
        env: {
          BENCH_STORE: 'sqlite',
          BENCH_PRICING: 'rules',
          DATABASE_URL: `sqlite:${join(dataDir, label, 'credits.db')}`,
        },
      },
      async (server) => {
        if (selected('charge_sqlite_rules')) {
          await measure({
            server,
            id: 'charge_sqlite_rules',
            label: 'charge, SQLite, full path',
            store: 'sqlite',
            pricing: 'rules',
            steps: CHARGE,
          });
        }
        if (selected('pairs_sqlite_rules')) {
          await measure({
            server,
            id: 'pairs_sqlite_rules',
            label: 'reserve→capture, SQLite, full path',
            store: 'sqlite',
            pricing: 'rules',
            steps: RESERVE_CAPTURE,
          });
        }
      },
    );
  }

  if (selected('charge_sqlite_fixed')) {
    console.log('\nSQLite server, fixed price (pricing out of the path)');
    const label = 'sqlite-fixed';
    verifies[label] = await withServer(
      {
        label,
        env: {
          BENCH_STORE: 'sqlite',
          BENCH_PRICING: 'fixed',
          DATABASE_URL: `sqlite:${join(dataDir, label, 'credits.db')}`,
        },
      },
      async (server) => {
        await measure({
          server,
          id: 'charge_sqlite_fixed',
          label: 'charge, SQLite, fixed price',
          store: 'sqlite',
          pricing: 'fixed',
          steps: CHARGE,
        });
      },
    );
  }

  if (selected('charge_postgres_rules')) {
    console.log(`\nPostgreSQL server, rules pricing, own schema (${redact(PG_URL)})`);
    const pgSkip = !PG_ENABLED ? 'BENCH_PG=off' : await reachable(PG_URL, 1500);
    if (pgSkip) {
      const line = `PostgreSQL skipped: ${pgSkip}`;
      console.log(`  ${line}`);
      notes.push(line);
    } else {
      const label = 'postgres-rules';
      let pgbench: PgbenchDatabase | null = null;
      if (PGBENCH_ENABLED) {
        const name = process.env.BENCH_PGBENCH_DB ?? `credits_pgbench_${RUN_ID}`;
        try {
          const prepared = await preparePgbench({ adminUrl: PG_URL, name });
          if (typeof prepared === 'string') {
            notes.push(`pgbench -N skipped: ${prepared}`);
            console.log(`  pgbench -N skipped: ${prepared}`);
          } else {
            pgbench = prepared;
            scratchDatabases.add(prepared);
            console.log(`  pgbench -N on scratch database ${name} after each spend slice`);
          }
        } catch (err) {
          const line = `pgbench -N skipped: ${err instanceof Error ? err.message : String(err)}`;
          console.log(`  ${line}`);
          notes.push(line);
        }
      }
      try {
        verifies[label] = await withServer(
          {
            label,
            env: {
              BENCH_STORE: 'postgres',
              BENCH_PRICING: 'rules',
              DATABASE_URL: PG_URL,
              TEST_DATABASE_URL: PG_URL,
            },
          },
          async (server) => {
            await measure({
              server,
              id: 'charge_postgres_rules',
              label: 'charge, PostgreSQL, full path',
              store: 'postgres',
              pricing: 'rules',
              steps: CHARGE,
              afterRound: pgbench
                ? async (seconds) => {
                    pgbenchRuns.push(await pgbench.measure({ clients: CONNECTIONS, seconds }));
                  }
                : undefined,
            });
          },
        );
        if (pgbenchRuns.length) {
          const p = pgbenchSummary()!;
          const charge = phases.find((x) => x.id === 'charge_postgres_rules');
          console.log(
            `    pgbench -N ${fmtInt(p.tps)} tx/s (${CONNECTIONS} clients, latency avg ${fmtMs(p.latencyAvgMs)} ms)` +
              (charge
                ? `; charge ÷ pgbench -N = ${(charge.spend.opsPerSec / p.tps).toFixed(2)}×`
                : ''),
          );
        }
      } catch (err) {
        if (phases.some((p) => p.store === 'postgres')) throw err;
        const line = `PostgreSQL skipped: ${err instanceof Error ? err.message : String(err)}`;
        console.log(`  ${line}`);
        notes.push(line);
      } finally {
        if (pgbench) {
          pgbench.drop();
          scratchDatabases.delete(pgbench);
        }
      }
    }
  }

  let quotes: QuoteFigures | null = null;
  if (selected('quotes')) {
    // In-process, with no server under load.
    const quoteMs = Math.round(Math.min(3000, Math.max(500, (SECONDS * 1000) / 3)));
    console.log(
      `\nQuotes in-process (${quoteMs} ms per path, random jobs over the whole fact space)`,
    );
    try {
      const q = await quoteBench(quoteMs);
      if (typeof q === 'string') {
        console.log(`  quote bench not available: ${q}`);
        notes.push(`quote bench not available: ${q}`);
      } else {
        quotes = q;
        console.log(
          `  fast path ${fmtInt(q.fastPerSec)} quotes/s, json-rules-engine ${fmtInt(q.enginePerSec)} quotes/s`,
        );
      }
    } catch (err) {
      const line = `quote bench failed: ${err instanceof Error ? err.message : String(err)}`;
      console.log(`  ${line}`);
      notes.push(line);
    }
  }

  printSummary({ quotes, notes, verifies, elapsedS: (performance.now() - started) / 1000 });
}

// ------------------------------------------------------------------ summary

/** Targets per phase (issue 13): ops/s and p99, each as a ratio to the no-op of the same slices. */
const TARGETS: Partial<Record<PhaseId, { ratio: number; p99Ratio?: number; pgbench?: number }>> = {
  charge_sqlite_rules: { ratio: 0.6, p99Ratio: 1.5 },
  pairs_sqlite_rules: { ratio: 0.35 },
  charge_sqlite_fixed: { ratio: 0.6, p99Ratio: 1.5 },
  charge_postgres_rules: { ratio: 0.4, pgbench: 0.5 },
};
const QUOTES_TARGET = 200_000;

function checks(
  p: Phase,
  pgb: { tps: number } | null,
): { label: string; value: string; ok: boolean }[] {
  const t = TARGETS[p.id];
  if (!t) return [];
  const out = [{ label: `≥ ${t.ratio}×`, value: p.ratio.toFixed(2), ok: p.ratio >= t.ratio }];
  if (t.p99Ratio !== undefined) {
    out.push({
      label: `p99 ≤ ${t.p99Ratio}×`,
      value: p.p99Ratio.toFixed(2),
      ok: p.p99Ratio <= t.p99Ratio,
    });
  }
  if (t.pgbench !== undefined && pgb) {
    const r = p.spend.opsPerSec / pgb.tps;
    out.push({ label: `≥ ${t.pgbench}× pgbench -N`, value: r.toFixed(2), ok: r >= t.pgbench });
  }
  return out;
}

function meetsTargets(p: Phase, pgb: { tps: number } | null): boolean | null {
  const c = checks(p, pgb);
  return c.length ? c.every((x) => x.ok) : null;
}

function targetsCell(p: Phase, pgb: { tps: number } | null): string {
  const c = checks(p, pgb).map((x) => `${x.label} ${x.ok ? 'PASS' : 'BELOW'}`);
  if (p.requestsPerOp > 1) c.push(`${(p.ratio * p.requestsPerOp).toFixed(2)}× in req`);
  if (p.id === 'charge_postgres_rules' && pgb) {
    c.unshift(`${(p.spend.opsPerSec / pgb.tps).toFixed(2)}× pgbench`);
  }
  return c.join('; ');
}

function printSummary(input: {
  quotes: QuoteFigures | null;
  notes: string[];
  verifies: Record<string, VerifySummary | null>;
  elapsedS: number;
}): void {
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'BELOW');
  const header = [
    'measurement',
    'ops/s',
    'no-op/s',
    '× no-op',
    'p50 ms',
    'p99 ms',
    'p99 ÷ no-op p99',
    'targets',
  ];
  const rows: string[][] = [];
  const baseline = noopSlices.length ? summarize(noopSlices) : null;
  if (baseline) {
    rows.push([
      'no-op GET /trpc/health.check (all slices)',
      fmtInt(baseline.opsPerSec),
      '',
      '1.00',
      fmtMs(baseline.latencyMs.p50),
      fmtMs(baseline.latencyMs.p99),
      '1.00',
      '',
    ]);
  }
  const pgb = pgbenchSummary();
  const json: Record<string, unknown> = {};
  for (const p of phases) {
    const pair = p.requestsPerOp > 1;
    rows.push([
      p.label + (pair ? ' (pairs; 2 req/op)' : ''),
      fmtInt(p.spend.opsPerSec),
      fmtInt(p.noop.opsPerSec),
      p.ratio.toFixed(2),
      fmtMs(p.spend.latencyMs.p50),
      fmtMs(p.spend.latencyMs.p99),
      p.p99Ratio.toFixed(2),
      targetsCell(p, pgb),
    ]);
    const figures = (s: LoadSummary) => ({
      perSec: Math.round(s.opsPerSec),
      p50Ms: Number(s.latencyMs.p50.toFixed(2)),
      p90Ms: Number(s.latencyMs.p90.toFixed(2)),
      p99Ms: Number(s.latencyMs.p99.toFixed(2)),
      p999Ms: Number(s.latencyMs.p999.toFixed(2)),
      maxMs: Number(s.latencyMs.max.toFixed(2)),
      non2xx: s.failed,
      errors: s.errors,
      serverCpuPct: s.serverCpuPct === null ? null : Math.round(s.serverCpuPct),
      loadGenCpuPct: Math.round(s.clientCpuPct),
    });
    json[p.id] = {
      store: p.store,
      pricing: p.pricing,
      requestsPerOp: p.requestsPerOp,
      ratioToNoop: Number(p.ratio.toFixed(3)),
      spend: figures(p.spend),
      noop: figures(p.noop),
      p99RatioToNoop: Number(p.p99Ratio.toFixed(3)),
      ...(pair ? { ratioInRequests: Number((p.ratio * p.requestsPerOp).toFixed(3)) } : {}),
      ...(p.id === 'charge_postgres_rules' && pgb
        ? { ratioToPgbench: Number((p.spend.opsPerSec / pgb.tps).toFixed(3)) }
        : {}),
      targets: TARGETS[p.id] ?? null,
      meetsTargets: meetsTargets(p, pgb),
    };
  }
  if (pgb) {
    rows.push([
      `pgbench -N, ${CONNECTIONS} clients (tx/s; same PostgreSQL)`,
      fmtInt(pgb.tps),
      '',
      '',
      '',
      '',
      '',
      'reference',
    ]);
  }
  if (input.quotes) {
    rows.push([
      'quotes/s, fast path, in-process',
      fmtInt(input.quotes.fastPerSec),
      '',
      '',
      '',
      '',
      `≥ 200,000/s: ${verdict(input.quotes.fastPerSec >= QUOTES_TARGET)}`,
      '',
    ]);
    rows.push([
      'quotes/s, json-rules-engine (reference)',
      fmtInt(input.quotes.enginePerSec),
      '',
      '',
      '',
      '',
      'reference',
      '',
    ]);
  }

  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => r[c]!.length)));
  const line = (r: string[]) =>
    r
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd();
  console.log('\nSummary');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));

  const sqliteCharge = phases.find((p) => p.id === 'charge_sqlite_rules');
  const pgCharge = phases.find((p) => p.id === 'charge_postgres_rules');
  const fixedCharge = phases.find((p) => p.id === 'charge_sqlite_fixed');
  let storeRatio: { normalized: number; raw: number } | null = null;
  if (sqliteCharge && pgCharge) {
    storeRatio = {
      normalized: sqliteCharge.ratio / pgCharge.ratio,
      raw: sqliteCharge.spend.opsPerSec / pgCharge.spend.opsPerSec,
    };
    console.log(
      `SQLite ÷ PostgreSQL, charge full path: ${storeRatio.normalized.toFixed(2)}× (each against its own no-op; raw ops/s ${storeRatio.raw.toFixed(2)}×)`,
    );
  }
  if (sqliteCharge && fixedCharge) {
    console.log(
      `full path ÷ fixed price, SQLite charge: ${(sqliteCharge.ratio / fixedCharge.ratio).toFixed(2)}× (pricing's cost on the HTTP path)`,
    );
  }
  if (input.quotes) {
    console.log(
      `fast path ÷ json-rules-engine: ${(input.quotes.fastPerSec / input.quotes.enginePerSec).toFixed(1)}×`,
    );
  }
  if (baseline && baseline.clientCpuPct >= 90) {
    console.log(
      'note: the load generator used ≥ 90% of a core during the no-op slices: the baseline may be client-bound, the ratios then read high.',
    );
  }
  for (const [label, v] of Object.entries(input.verifies)) {
    if (v && !v.ok) console.log(`note: verify found ${v.violations} violations on ${label}`);
  }
  for (const n of input.notes) console.log(`note: ${n}`);
  console.log(
    `machine load average at end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        ' ',
      )} (${cpus().length} CPUs; above ~${cpus().length} other work competed with the bench)`,
  );
  console.log(
    `(figures are information: the bench exits 0 whatever they are; the run took ${input.elapsedS.toFixed(0)} s)`,
  );

  const results = {
    when: new Date().toISOString(),
    node: process.version,
    cpus: cpus().length,
    loadAverageAtEnd: loadavg().map((l) => Number(l.toFixed(2))),
    settings: {
      seconds: SECONDS,
      rounds: ROUNDS,
      warmupSeconds: WARMUP_SECONDS,
      connections: CONNECTIONS,
      workspaces: WORKSPACES,
    },
    baseline: baseline && {
      noopReqPerSec: Math.round(baseline.opsPerSec),
      p50Ms: Number(baseline.latencyMs.p50.toFixed(2)),
      p99Ms: Number(baseline.latencyMs.p99.toFixed(2)),
    },
    phases: json,
    sqliteOverPostgres: storeRatio && {
      normalized: Number(storeRatio.normalized.toFixed(3)),
      raw: Number(storeRatio.raw.toFixed(3)),
    },
    quotes: input.quotes && {
      ...input.quotes,
      meetsTarget: input.quotes.fastPerSec >= QUOTES_TARGET,
    },
    pgbench: pgb && {
      clients: CONNECTIONS,
      tps: Math.round(pgb.tps),
      latencyAvgMs: Number(pgb.latencyAvgMs.toFixed(2)),
    },
    targets: { ...TARGETS, quotesPerSec: QUOTES_TARGET },
    verify: input.verifies,
    notes: input.notes,
  };
  const resultsPath =
    process.env.BENCH_RESULTS ??
    join(mkdtempSync(join(tmpdir(), 'credits-bench-results-')), 'bench-results.json');
  writeFileSync(resultsPath, `${JSON.stringify(results, null, 2)}\n`);
  console.log(`results written to ${resultsPath}`);
  console.log(JSON.stringify(results));
}

const watchdog = setTimeout(() => {
  console.error(`bench: still running after ${RUN_LIMIT_MS / 1000} s, giving up`);
  cleanupNow();
  process.exit(1);
}, RUN_LIMIT_MS);
watchdog.unref();

main().then(
  () => {
    cleanupNow();
    process.exit(0);
  },
  (err: unknown) => {
    console.error('bench failed:', err);
    cleanupNow();
    process.exit(1);
  },
);
