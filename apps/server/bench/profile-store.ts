/**
 * Where a spend's time goes below HTTP: an in-process probe for when `pnpm bench` reports
 * spend below target. Run from apps/server:
 *
 *   pnpm exec tsx bench/profile-store.ts            # PROFILE_SECONDS (4) per layer
 *
 * It opens a fresh SQLite file (production adapter: WAL, `synchronous=FULL`, one group-commit
 * queue) behind a driver wrapper that times every SQL call, then drives 64 concurrent callers
 * (PROFILE_CONCURRENCY) through three layers, each for PROFILE_SECONDS:
 *
 *  1. procedure:   `createCaller(ctx).usage.charge(…)`: zod, pricing, reads, store (no HTTP);
 *  2. store:       `store.charge(…)` with the job priced beforehand;
 *  2b. pairs:      `store.reserve(…)` then `store.capture(…)` of half of it (a studio job);
 *                  ops/s counts pairs, SQL calls per pair;
 *  3. empty write: `driver.write(async () => undefined)`: the queue alone (BEGIN IMMEDIATE,
 *                  SAVEPOINT/RELEASE per operation, COMMIT with its fsync).
 *
 * For each: ops/s, latency, SQL calls per operation with their mean time (the time from the
 * call to its callback: the threadpool hop plus SQLite's work), and the writer's timeline per
 * commit (operation bodies, savepoint hops between them, the commit tail). Nothing here is
 * used by the server; it only reads the store through its public types.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCaller, RulesService, workspaceServices, type Caller } from '@credits/api';
import type { Job } from '@credits/rules';
import {
  LedgerStore,
  SqliteDriver,
  type Driver,
  type Executor,
  type TxExecutor,
  type WriteOptions,
  type PricedJob,
} from '@credits/store';

const SECONDS = Number(process.env.PROFILE_SECONDS ?? 4);
const CONCURRENCY = Number(process.env.PROFILE_CONCURRENCY ?? 64);
const WORKSPACES = 16;

// ------------------------------------------------------------------ timing driver

interface SqlFigure {
  calls: number;
  totalMs: number;
}

interface OpRecord {
  batch: number;
  start: number;
  end: number;
  resolved: number;
}

class Probe {
  sql = new Map<string, SqlFigure>();
  ops: OpRecord[] = [];

  reset(): void {
    this.sql.clear();
    this.ops = [];
  }

  add(conn: 'write' | 'read', sql: string, ms: number): void {
    const key = `${conn.padEnd(5)} ${sql.replace(/\s+/g, ' ').trim().slice(0, 88)}`;
    const f = this.sql.get(key) ?? { calls: 0, totalMs: 0 };
    f.calls += 1;
    f.totalMs += ms;
    this.sql.set(key, f);
  }
}

function timed(ex: Executor, conn: 'write' | 'read', probe: Probe): Executor {
  return {
    async all<T>(sql: string, params?: readonly unknown[]) {
      const t = performance.now();
      try {
        return await ex.all<T>(sql, params);
      } finally {
        probe.add(conn, sql, performance.now() - t);
      }
    },
    async get<T>(sql: string, params?: readonly unknown[]) {
      const t = performance.now();
      try {
        return await ex.get<T>(sql, params);
      } finally {
        probe.add(conn, sql, performance.now() - t);
      }
    },
    async run(sql: string, params?: readonly unknown[]) {
      const t = performance.now();
      try {
        return await ex.run(sql, params);
      } finally {
        probe.add(conn, sql, performance.now() - t);
      }
    },
  };
}

/** Wraps a driver: every statement timed; every write's place in its commit recorded. */
function timingDriver(inner: Driver, probe: Probe): Driver {
  return {
    dialect: inner.dialect,
    lockRows: inner.lockRows,
    read: timed(inner.read, 'read', probe),
    async write<T>(op: (tx: TxExecutor) => Promise<T>, options?: WriteOptions): Promise<T> {
      let rec: OpRecord | null = null;
      const value = await inner.write(async (tx) => {
        // Every operation of one commit sees the same commit count.
        rec = { batch: inner.stats().commits, start: performance.now(), end: 0, resolved: 0 };
        try {
          // Deferred statements pass through untimed (they overlap the next ones).
          return await op({
            ...timed(tx, 'write', probe),
            write: tx.write.bind(tx),
            append: tx.append.bind(tx),
            insert: tx.insert.bind(tx),
            add: tx.add.bind(tx),
            claim: tx.claim.bind(tx),
            recall: tx.recall.bind(tx),
            remember: tx.remember.bind(tx),
            forget: tx.forget.bind(tx),
          });
        } finally {
          rec.end = performance.now();
        }
      }, options);
      if (rec) {
        (rec as OpRecord).resolved = performance.now();
        probe.ops.push(rec);
      }
      return value;
    },
    snapshot: (fn) => inner.snapshot(fn),
    migrate: (m) => inner.migrate(m),
    stats: () => inner.stats(),
    close: () => inner.close(),
  };
}

// ------------------------------------------------------------------ load

function percentile(sorted: number[], p: number): number {
  return (
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ??
    Number.NaN
  );
}

async function drive(
  name: string,
  probe: Probe,
  once: (n: number) => Promise<unknown>,
): Promise<void> {
  probe.reset();
  const latencies: number[] = [];
  let n = 0;
  let failures = 0;
  const failure: { first: Error | null } = { first: null };
  const cpu0 = process.cpuUsage();
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const t = performance.now();
        try {
          await once(n++);
          latencies.push(performance.now() - t);
        } catch (err) {
          failures += 1;
          failure.first ??= err instanceof Error ? err : new Error(String(err));
        }
      }
    }),
  );
  const wall = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  latencies.sort((a, b) => a - b);
  const ops = latencies.length;
  console.log(
    `\n${name}: ${Math.round(ops / wall).toLocaleString('en-US')} ops/s` +
      `  p50 ${percentile(latencies, 50).toFixed(1)} ms  p99 ${percentile(latencies, 99).toFixed(1)} ms` +
      `  | failures ${failures}  | CPU ${(((cpu.user + cpu.system) / 1e6 / wall) * 100).toFixed(0)}% of a core (main thread + SQLite threads)`,
  );
  if (failure.first) console.log(`  first failure: ${failure.first.message}`);
  if (ops === 0) return;

  // SQL calls per operation.
  const rows = [...probe.sql].sort((a, b) => b[1].totalMs - a[1].totalMs);
  const sqlTotal = rows.reduce((s, [, f]) => s + f.totalMs, 0);
  console.log(
    `  SQL calls per operation (mean ms per call = call → callback; share of all SQL time):`,
  );
  for (const [key, f] of rows) {
    console.log(
      `    ${(f.calls / ops).toFixed(2).padStart(5)} × ${(f.totalMs / f.calls).toFixed(3).padStart(7)} ms  ${((f.totalMs / sqlTotal) * 100).toFixed(1).padStart(5)}%  ${key}`,
    );
  }
  const writes = rows.filter(([k]) => k.startsWith('write')).reduce((s, [, f]) => s + f.calls, 0);
  const reads = rows.filter(([k]) => k.startsWith('read')).reduce((s, [, f]) => s + f.calls, 0);
  console.log(
    `    = ${(writes / ops).toFixed(1)} writer calls + ${(reads / ops).toFixed(1)} reader calls per operation`,
  );

  // The writer's timeline, commit by commit.
  const batches = new Map<number, OpRecord[]>();
  for (const r of probe.ops) batches.set(r.batch, [...(batches.get(r.batch) ?? []), r]);
  let body = 0;
  let gaps = 0;
  let tail = 0;
  let span = 0;
  const sizes: number[] = [];
  for (const ops of batches.values()) {
    ops.sort((a, b) => a.start - b.start);
    sizes.push(ops.length);
    for (let i = 0; i < ops.length; i++) {
      body += ops[i]!.end - ops[i]!.start;
      if (i > 0) gaps += ops[i]!.start - ops[i - 1]!.end;
    }
    const last = ops[ops.length - 1]!;
    const resolved = Math.min(...ops.map((o) => o.resolved));
    tail += resolved - last.end;
    span += resolved - ops[0]!.start;
  }
  if (sizes.length) {
    sizes.sort((a, b) => a - b);
    const nOps = probe.ops.length;
    const b = sizes.length;
    console.log(
      `  writer: ${b} commits, ${(nOps / b).toFixed(1)} ops per commit (p50 ${percentile(sizes, 50)}, max ${sizes[b - 1]}); ` +
        `busy ${((span / (wall * 1000)) * 100).toFixed(0)}% of the wall time`,
    );
    console.log(
      `  per commit: ${(span / b).toFixed(2)} ms = operation bodies ${(body / b).toFixed(2)} ms` +
        ` + RELEASE/SAVEPOINT hops between them ${(gaps / b).toFixed(2)} ms + last RELEASE, COMMIT (fsync), answer ${(tail / b).toFixed(2)} ms`,
    );
    console.log(
      `  per operation on the writer: ${(span / nOps).toFixed(3)} ms (body ${(body / nOps).toFixed(3)}, savepoint hops ${(gaps / nOps).toFixed(3)}, commit share ${(tail / nOps).toFixed(3)})` +
        ` → writer ceiling ≈ ${Math.round(nOps / (span / 1000)).toLocaleString('en-US')} ops/s`,
    );
  }
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'credits-profile-'));
  const probe = new Probe();
  const inner = await SqliteDriver.open({ filename: join(dir, 'credits.db') });
  const driver = timingDriver(inner, probe);
  const store = new LedgerStore(driver);
  try {
    await store.migrate();
    const rules = new RulesService(store);
    await rules.seed(Date.now());
    const caller: Caller = {
      kind: 'service',
      id: 'service:profile',
      scopes: ['wallets:read', 'usage:write', 'admin'],
    };
    const api = createCaller({
      store,
      rules,
      ...workspaceServices({ store, clock: Date.now }),
      now: Date.now,
      caller,
      config: { holdTtlMs: 3_600_000 },
    });
    const ids = Array.from({ length: WORKSPACES }, (_, i) => `profile-ws-${i}`);
    for (const id of ids) {
      await api.admin.workspaces.create({
        id,
        name: id,
        plan: 'business',
        idempotencyKey: `create-${id}`,
      });
      for (const wallet of ['ai_tokens', 'image_credits'] as const) {
        await api.admin.ledger.grant({
          workspaceId: id,
          wallet,
          amount: 1_000_000_000,
          source: 'purchase',
          reason: 'profile',
          idempotencyKey: `grant-${id}-${wallet}`,
        });
      }
    }
    const jobs: Job[] = [
      { kind: 'ai', tokens: 800 },
      { kind: 'image', type: 'product', count: 2, quality: 'hd' },
      { kind: 'ai', tokens: 1500 },
      { kind: 'image', type: 'social', count: 1 },
    ];
    console.log(
      `SQLite (synchronous=FULL) in ${dir}; ${CONCURRENCY} concurrent callers, ${SECONDS} s per layer`,
    );

    await drive('1. procedure usage.charge (no HTTP)', probe, (n) =>
      api.usage.charge({
        workspaceId: ids[n % WORKSPACES]!,
        job: jobs[n % jobs.length]!,
        idempotencyKey: `p-${n}`,
      }),
    );

    const active = await rules.current();
    const priced: PricedJob[] = jobs.map((job) => {
      const out = active.pricer.price(job, { plan: 'business', features: [], trialRemaining: 0 });
      if (!out.ok) throw new Error('unpriced');
      return {
        wallet: job.kind === 'ai' ? 'ai_tokens' : 'image_credits',
        kind: job.kind,
        job,
        credits: out.credits,
        ruleVersion: out.ruleVersion,
        breakdown: out.breakdown,
        trialApplies: false,
        restrictions: [],
        description: 'profile',
      };
    });
    await drive('2. store.charge (priced beforehand)', probe, (n) =>
      store.charge({
        workspaceId: ids[n % WORKSPACES]!,
        idempotencyKey: `s-${n}`,
        requestHash: `s-${n}`,
        actor: 'service:profile',
        now: Date.now(),
        priced: priced[n % priced.length]!,
      }),
    );

    await drive('2b. store.reserve → store.capture (pairs, each op counted)', probe, async (n) => {
      const base = {
        workspaceId: ids[n % WORKSPACES]!,
        actor: 'service:profile',
        now: Date.now(),
      };
      const p = priced[n % priced.length]!;
      const hold = await store.reserve({
        ...base,
        idempotencyKey: `r-${n}`,
        requestHash: `r-${n}`,
        priced: p,
        ttlMs: 3_600_000,
      });
      await store.capture({
        ...base,
        now: Date.now(),
        idempotencyKey: `c-${n}`,
        requestHash: `c-${n}`,
        holdId: hold.holdId,
        credits: Math.max(1, Math.floor(p.credits / 2)),
      });
    });

    await drive('3. empty write (the queue, savepoints and commit alone)', probe, () =>
      driver.write(async () => undefined),
    );
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
