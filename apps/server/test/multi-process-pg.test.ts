import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresDriver } from '@credits/store';
import {
  killAll,
  mutate,
  query,
  runVerifyCli,
  sleep,
  startServer,
  stop,
  type ServerProcess,
} from './crash-server.js';
import {
  Tally,
  call,
  clientLoops,
  createSchema,
  dropSchema,
  errorLines,
  newSchemaName,
  row,
  runCli,
  schemaUrl,
  type Call,
} from './multi-process-harness.js';

/**
 * Issue 7, first must-show: three server processes on one PostgreSQL database, 64 concurrent
 * clients spread over them, 2,000 reserves against balances that cover 500: exactly 500
 * succeed, no balance below zero, `verify` clean; the same with captures, releases and hold
 * expiry racing.
 *
 * Every run gets its own schema, named in the connection URL (`options=-c search_path=…`), so
 * the unmodified CLI and servers land in it and runs never collide. Needs TEST_DATABASE_URL.
 */

const PG_URL = process.env.TEST_DATABASE_URL ?? '';
const SKIP_REASON =
  'multi-process-pg: SKIPPED — TEST_DATABASE_URL is not set (CI sets it; locally e.g. ' +
  'TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test)';
if (!PG_URL) console.warn(SKIP_REASON);

const SERVERS = 3;
const CLIENTS = 64;
const RESERVES = 2_000;
const COVERED = 500;
/** Phase 3: reserve attempts with a short TTL (all done before the first expiry). */
const RESERVES_TTL = 600;
/**
 * Phase 3's hold TTL: 10 s (the API's minimum), raised when phase 1 showed the box too slow
 * to land every reserve before the first hold expires (expired holds return credits, which
 * would rightly let more than 500 reserves in).
 */
const MIN_TTL_SEC = 10;
const SWEEP_INTERVAL_MS = 200;
/**
 * Phase 3: hold i gets ttl base + (i mod this) seconds, so the expiries (and the racing calls
 * aimed at them) spread over a few seconds more than the reserve storm took.
 */
const TTL_SPREAD_SEC = 5;
/** Phase 3: capture + release go out at expiresAt + offset, offset uniform in this window. */
const RACE_WINDOW_MS: [number, number] = [-800, 200];
const SERVICE_KEY = 'multi-process-pg-service-key-0123456789';
const IMAGE_JOB = { kind: 'image', type: 'hero', count: 1 } as const;
const WALLET = 'image_credits';

interface ReserveAnswer {
  holdId: string;
  credits: number;
  expiresAt: number;
  balance: number;
  held: number;
}

const run = randomBytes(4).toString('hex');
const summary: string[] = [];
const note = (...lines: string[]) => summary.push(...lines);

function describeCalls(calls: Call[], max = 8): string {
  return calls
    .slice(0, max)
    .map(
      (c) =>
        `  #${c.index} ${c.path} @${c.port} → ${c.label}: ${JSON.stringify(c.outcome).slice(0, 400)}`,
    )
    .join('\n');
}

function pct(tally: Tally, q: number): number {
  const xs = tally.calls.map((c) => c.ms).sort((a, b) => a - b);
  return Math.round(xs[Math.min(xs.length - 1, Math.floor(xs.length * q))] ?? 0);
}

function distribution(tally: Tally, servers: ServerProcess[]): string[] {
  const by = tally.byPort();
  const labels = [...new Set(tally.calls.map((c) => c.label))].sort();
  const widths = [14, 7, ...labels.map((l) => Math.max(8, l.length))];
  const lines = [row(['process', 'total', ...labels], widths)];
  servers.forEach((s, i) => {
    const p = by[s.port] ?? {};
    lines.push(row([`#${i} :${s.port}`, p.total ?? 0, ...labels.map((l) => p[l] ?? 0)], widths));
  });
  return lines.map((l) => `    ${l}`);
}

describe.skipIf(!PG_URL)(
  `three server processes on one PostgreSQL schema${PG_URL ? '' : ' (skipped: TEST_DATABASE_URL is not set)'}`,
  () => {
    let dir = '';
    const schema = newSchemaName('mp');
    const url = schemaUrl(PG_URL, schema);
    let logs: string[] = [];
    let schemaMade = false;
    let db: PostgresDriver | undefined;
    let servers: ServerProcess[] = [];
    let price = 0;
    const suiteStart = performance.now();

    const admin = (i = 0) => servers[i % SERVERS]!;

    async function mustMutate<T>(
      path: string,
      input: Record<string, unknown>,
      via = 0,
    ): Promise<T> {
      const out = await mutate(admin(via).base, SERVICE_KEY, path, input);
      if (out.kind !== 'ok') throw new Error(`${path} failed: ${JSON.stringify(out)}`);
      return out.data as T;
    }

    async function wallet(workspaceId: string) {
      const w = await db!.read.get<{ available: number; held: number }>(
        `SELECT available, held FROM wallets WHERE workspace_id = ? AND kind = ?`,
        [workspaceId, WALLET],
      );
      if (!w) throw new Error(`no ${WALLET} wallet for ${workspaceId}`);
      return { available: Number(w.available), held: Number(w.held) };
    }

    /** A business workspace (no trial) with exactly `COVERED` × price in image credits. */
    async function fundedWorkspace(tag: string): Promise<{ id: string; granted: number }> {
      const id = `mp_${tag}_${run}`;
      await mustMutate('admin.workspaces.create', {
        id,
        name: `multi-process ${tag}`,
        plan: 'business',
        idempotencyKey: `mp-create-${id}`,
      });
      if (price === 0) {
        const quote = await query<{ credits: number }>(admin(1).base, SERVICE_KEY, 'usage.quote', {
          workspaceId: id,
          job: IMAGE_JOB,
        });
        price = quote.credits;
        expect(price).toBeGreaterThan(0);
      }
      expect(await wallet(id)).toEqual({ available: 0, held: 0 });
      const granted = COVERED * price;
      await mustMutate(
        'admin.ledger.grant',
        {
          workspaceId: id,
          wallet: WALLET,
          amount: granted,
          source: 'purchase',
          reason: 'multi-process test',
          idempotencyKey: `mp-grant-${id}`,
        },
        2,
      );
      expect(await wallet(id)).toEqual({ available: granted, held: 0 });
      return { id, granted };
    }

    /** `total` reserves from `CLIENTS` loops; client c talks to process c % 3. */
    async function reserveStorm(
      workspaceId: string,
      total: number,
      ttlSec?: (index: number) => number,
    ) {
      const tally = new Tally();
      const t0 = performance.now();
      await clientLoops({ total, clients: CLIENTS, servers }, (index, client, server) =>
        call(tally, server, SERVICE_KEY, { index, client }, 'usage.reserve', {
          workspaceId,
          job: IMAGE_JOB,
          idempotencyKey: `mp-reserve-${workspaceId}-${index}`,
          ...(ttlSec ? { ttlSec: ttlSec(index) } : {}),
        }),
      );
      return { tally, ms: performance.now() - t0 };
    }

    function checkStorm(tally: Tally, total: number) {
      const bad = tally.unexpected(['ok', 'INSUFFICIENT_CREDITS']);
      expect(
        bad.length,
        `answers other than a hold or INSUFFICIENT_CREDITS:\n${describeCalls(bad)}`,
      ).toBe(0);
      expect(tally.calls.length).toBe(total);
      expect(tally.count('ok')).toBe(COVERED);
      expect(tally.count('INSUFFICIENT_CREDITS')).toBe(total - COVERED);
      const holds = tally.calls
        .filter((c) => c.label === 'ok')
        .map((c) => (c.outcome as { data: ReserveAnswer }).data);
      expect(new Set(holds.map((h) => h.holdId)).size).toBe(COVERED);
      for (const h of holds) expect(h.credits).toBe(price);
      return holds;
    }

    /** Ledger entries per hold: one `hold`, and exactly one settlement entry. */
    async function settlementEntries(workspaceId: string) {
      return db!.read.all<{ jobId: string; holds: number; settles: number; sweeper: number }>(
        `SELECT job_id AS "jobId",
           SUM(CASE WHEN type = 'hold' THEN 1 ELSE 0 END) AS "holds",
           SUM(CASE WHEN type IN ('spend','return','expire') THEN 1 ELSE 0 END) AS "settles",
           SUM(CASE WHEN actor = 'system:sweeper' THEN 1 ELSE 0 END) AS "sweeper"
         FROM ledger_entries WHERE workspace_id = ? AND job_id IS NOT NULL GROUP BY job_id`,
        [workspaceId],
      );
    }

    async function jobStatuses(workspaceId: string) {
      const rows = await db!.read.all<{ id: string; status: string; captured: number | null }>(
        `SELECT id, status, captured FROM jobs WHERE workspace_id = ?`,
        [workspaceId],
      );
      return new Map(
        rows.map((r) => [
          r.id,
          { status: r.status, captured: r.captured === null ? null : Number(r.captured) },
        ]),
      );
    }

    /** held 0, and available + spent (sum captured) = granted. */
    async function checkSettledWallet(workspaceId: string, granted: number) {
      const w = await wallet(workspaceId);
      const spent = Number(
        (
          await db!.read.get<{ s: number | null }>(
            `SELECT SUM(captured) AS "s" FROM jobs WHERE workspace_id = ? AND status = 'completed'`,
            [workspaceId],
          )
        )?.s ?? 0,
      );
      expect(w.held).toBe(0);
      expect(w.available + spent).toBe(granted);
      return { ...w, spent };
    }

    beforeAll(async () => {
      // Made here, not at collection, so a skipped run leaves nothing behind.
      dir = mkdtempSync(join(tmpdir(), 'credits-mp-'));
      logs = Array.from({ length: SERVERS }, (_, i) => join(dir, `server-${i}.log`));
      await createSchema(PG_URL, schema);
      schemaMade = true;

      const migrated = await runCli(['migrate'], url);
      expect(migrated.code, migrated.output).toBe(0);
      // (The CLI prints "migrations applied: 0" even on a fresh schema: `withStore` migrates
      // before the command's own migrate runs. So check the schema itself.)

      // The URL option really selects the schema: this connection sees it as current, and
      // the CLI's tables are in it.
      db = await PostgresDriver.open({ url, max: 4 });
      const current = await db.read.get<{ s: string }>(`SELECT current_schema() AS "s"`);
      expect(current?.s).toBe(schema);
      const tables = await db.read.get<{ n: number }>(
        `SELECT COUNT(*) AS "n" FROM information_schema.tables WHERE table_schema = ? AND table_name IN ('wallets', 'jobs', 'schema_migrations')`,
        [schema],
      );
      expect(Number(tables?.n)).toBe(3);
      const versions = await db.read.get<{ n: number }>(
        `SELECT COUNT(*) AS "n" FROM schema_migrations`,
      );
      expect(Number(versions?.n)).toBeGreaterThan(0);

      const t0 = performance.now();
      const start = (logFile: string) =>
        startServer(
          {
            databaseUrl: url,
            serviceKey: SERVICE_KEY,
            logFile,
            env: { SWEEP_INTERVAL_MS: String(SWEEP_INTERVAL_MS) },
          },
          { timeoutMs: 45_000 },
        );
      // The first process alone, then the other two together: `migrate` does not publish the
      // default rule set, each server does at start when none is active, and two doing so at
      // once on a fresh schema race (both take MAX(version) + 1: 23505 on rule_versions_pkey,
      // the loser exits) — a start-up bug reported separately, not what this test is about.
      servers = [await start(logs[0]!)];
      servers.push(...(await Promise.all(logs.slice(1).map(start))));
      expect(new Set(servers.map((s) => s.child.pid)).size).toBe(SERVERS);
      note(
        `multi-process-pg: schema ${schema}, ${SERVERS} server processes (pids ${servers.map((s) => s.child.pid).join(', ')}; ports ${servers.map((s) => s.port).join(', ')}) ready in ${Math.round(performance.now() - t0)} ms`,
      );
    }, 90_000);

    afterAll(async () => {
      await Promise.all(servers.map((s) => stop(s, 5_000).catch(() => undefined)));
      killAll();
      await db?.close().catch(() => undefined);
      if (schemaMade) await dropSchema(PG_URL, schema);
      note(`total ${((performance.now() - suiteStart) / 1000) | 0} s; schema ${schema} dropped`);
      console.log(summary.join('\n'));
      if (process.env.KEEP_MP_DIR) console.log(`multi-process-pg: kept logs in ${dir}`);
      else if (dir) rmSync(dir, { recursive: true, force: true });
    }, 30_000);

    let wsA: { id: string; granted: number };
    /** Reserves per second phase 1 reached (sizes phase 3's TTL). */
    let reserveRate = 0;
    let holdsA: ReserveAnswer[] = [];

    it('2,000 reserves from 64 clients over 3 processes against 500 × price: exactly 500 succeed', async () => {
      wsA = await fundedWorkspace('a');
      const { tally, ms } = await reserveStorm(wsA.id, RESERVES);
      holdsA = checkStorm(tally, RESERVES);
      reserveRate = (RESERVES / ms) * 1000;
      expect(await wallet(wsA.id)).toEqual({ available: 0, held: COVERED * price });
      const reserved = await db!.read.get<{ n: number }>(
        `SELECT COUNT(*) AS "n" FROM jobs WHERE workspace_id = ? AND status = 'reserved'`,
        [wsA.id],
      );
      expect(Number(reserved?.n)).toBe(COVERED);
      note(
        `phase 1 — reserve storm: ${RESERVES} reserves, ${CLIENTS} clients, hero image = ${price} credits, granted ${wsA.granted}`,
        `  ${tally.count('ok')} holds, ${tally.count('INSUFFICIENT_CREDITS')} INSUFFICIENT_CREDITS, ${tally.unexpected(['ok', 'INSUFFICIENT_CREDITS']).length} other; ${Math.round(ms)} ms (${Math.round((RESERVES / ms) * 1000)} ops/s); wallet available 0, held ${COVERED * price}`,
        ...distribution(tally, servers),
      );
    }, 90_000);

    it('capture and release race for each of the 500 holds on different processes: each settles once', async () => {
      expect(holdsA.length).toBe(COVERED);
      const tally = new Tally();
      const t0 = performance.now();
      await clientLoops(
        { total: holdsA.length, clients: CLIENTS, servers },
        async (index, client) => {
          const h = holdsA[index]!;
          const base = { workspaceId: wsA.id, holdId: h.holdId };
          await Promise.all([
            call(
              tally,
              servers[index % SERVERS]!,
              SERVICE_KEY,
              { index, client },
              'usage.capture',
              {
                ...base,
                idempotencyKey: `mp-capture-${h.holdId}`,
              },
            ),
            call(
              tally,
              servers[(index + 1) % SERVERS]!,
              SERVICE_KEY,
              { index, client },
              'usage.release',
              {
                ...base,
                idempotencyKey: `mp-release-${h.holdId}`,
              },
            ),
          ]);
        },
      );
      const ms = performance.now() - t0;
      const bad = tally.unexpected(['ok', 'HOLD_SETTLED']);
      expect(
        bad.length,
        `answers other than a settlement or HOLD_SETTLED:\n${describeCalls(bad)}`,
      ).toBe(0);

      const statuses = await jobStatuses(wsA.id);
      let captured = 0;
      let released = 0;
      for (const [index, h] of holdsA.entries()) {
        const mine = tally.calls.filter((c) => c.index === index);
        const won = mine.filter((c) => c.label === 'ok');
        expect(
          won.length,
          `hold ${h.holdId} settled ${won.length} times:\n${describeCalls(mine)}`,
        ).toBe(1);
        const winner = won[0]!.path;
        const status = statuses.get(h.holdId);
        if (winner === 'usage.capture') {
          captured++;
          expect(status).toEqual({ status: 'completed', captured: price });
        } else {
          released++;
          expect(status).toEqual({ status: 'failed', captured: 0 });
        }
      }
      for (const e of await settlementEntries(wsA.id)) {
        expect([Number(e.holds), Number(e.settles)], `ledger entries of ${e.jobId}`).toEqual([
          1, 1,
        ]);
      }
      const w = await checkSettledWallet(wsA.id, wsA.granted);
      expect(w.spent).toBe(captured * price);
      expect(w.available).toBe(released * price);
      note(
        `phase 2 — capture vs release on different processes, ${holdsA.length} holds (${tally.calls.length} calls): ${captured} captured, ${released} released, 0 double; ${tally.count('HOLD_SETTLED')} HOLD_SETTLED; ${Math.round(ms)} ms`,
        `  wallet: available ${w.available} + spent ${w.spent} = granted ${wsA.granted}, held 0`,
        ...distribution(tally, servers),
      );
    }, 60_000);

    it('capture, release and hold expiry race (ttl ≥ 10 s, sweeper every 200 ms on every process): each settles once', async () => {
      const wsB = await fundedWorkspace('b');
      const ttlSec = Math.max(
        MIN_TTL_SEC,
        Math.ceil((1.4 * RESERVES_TTL) / (reserveRate || 50)) + 2,
      );
      const storm = await reserveStorm(wsB.id, RESERVES_TTL, (i) => ttlSec + (i % TTL_SPREAD_SEC));
      const holds = checkStorm(storm.tally, RESERVES_TTL);
      const firstExpiry = Math.min(...holds.map((h) => h.expiresAt));
      // Otherwise credits returned by expiry could rightly let more than 500 reserves in.
      expect(
        Date.now(),
        `the reserve storm (${Math.round(storm.ms)} ms) must end before the first hold expires (ttl ${ttlSec} s)`,
      ).toBeLessThan(firstExpiry);

      const tally = new Tally();
      const sentAt = new Map<number, number>();
      const t0 = performance.now();
      await Promise.all(
        holds.map(async (h, index) => {
          const offset =
            RACE_WINDOW_MS[0] + Math.random() * (RACE_WINDOW_MS[1] - RACE_WINDOW_MS[0]);
          await sleep(Math.max(0, h.expiresAt + offset - Date.now()));
          sentAt.set(index, Date.now());
          const base = { workspaceId: wsB.id, holdId: h.holdId };
          await Promise.all([
            call(
              tally,
              servers[index % SERVERS]!,
              SERVICE_KEY,
              { index, client: index },
              'usage.capture',
              {
                ...base,
                idempotencyKey: `mp-capture-${h.holdId}`,
              },
            ),
            call(
              tally,
              servers[(index + 1) % SERVERS]!,
              SERVICE_KEY,
              { index, client: index },
              'usage.release',
              {
                ...base,
                idempotencyKey: `mp-release-${h.holdId}`,
              },
            ),
          ]);
        }),
      );
      const raceMs = performance.now() - t0;
      const bad = tally.unexpected(['ok', 'HOLD_SETTLED']);
      expect(
        bad.length,
        `answers other than a settlement or HOLD_SETTLED:\n${describeCalls(bad)}`,
      ).toBe(0);

      // The sweepers settle whatever the calls did not.
      const deadline = Date.now() + 15_000;
      for (;;) {
        const left = await db!.read.get<{ n: number }>(
          `SELECT COUNT(*) AS "n" FROM jobs WHERE workspace_id = ? AND status = 'reserved'`,
          [wsB.id],
        );
        if (Number(left?.n) === 0) break;
        if (Date.now() > deadline)
          throw new Error(`${left?.n} holds still reserved 15 s after the race`);
        await sleep(100);
      }

      const statuses = await jobStatuses(wsB.id);
      const counts = { captured: 0, released: 0, expired: 0, expiredAfterEarlyCall: 0 };
      for (const [index, h] of holds.entries()) {
        const mine = tally.calls.filter((c) => c.index === index);
        const won = mine.filter((c) => c.label === 'ok');
        const status = statuses.get(h.holdId);
        expect(
          won.length,
          `hold ${h.holdId} settled ${won.length} times by calls (${status?.status}):\n${describeCalls(mine)}`,
        ).toBeLessThanOrEqual(1);
        if (won.length === 1) {
          if (won[0]!.path === 'usage.capture') {
            counts.captured++;
            expect(status, `hold ${h.holdId}`).toEqual({ status: 'completed', captured: price });
          } else {
            counts.released++;
            expect(status, `hold ${h.holdId}`).toEqual({ status: 'failed', captured: 0 });
          }
        } else {
          counts.expired++;
          expect(status, `hold ${h.holdId}: no call won, so expiry must have`).toEqual({
            status: 'expired',
            captured: 0,
          });
          if (sentAt.get(index)! < h.expiresAt) counts.expiredAfterEarlyCall++;
        }
      }
      const entries = await settlementEntries(wsB.id);
      expect(entries.length).toBe(COVERED);
      let bySweeper = 0;
      for (const e of entries) {
        expect([Number(e.holds), Number(e.settles)], `ledger entries of ${e.jobId}`).toEqual([
          1, 1,
        ]);
        if (Number(e.sweeper) > 0) bySweeper++;
      }
      expect(bySweeper).toBe(counts.expired);
      // The race really ran: calls won some holds, the sweepers others. (Which call wins a
      // given hold, and how many expire, depends on the box's load; only "some of each".)
      expect(counts.captured + counts.released, 'some captures or releases won').toBeGreaterThan(0);
      expect(counts.expired, 'some holds expired').toBeGreaterThan(0);

      const w = await checkSettledWallet(wsB.id, wsB.granted);
      expect(w.spent).toBe(counts.captured * price);
      expect(w.available).toBe((counts.released + counts.expired) * price);
      const settledAnswers = tally.calls.filter((c) => c.label === 'HOLD_SETTLED');
      // Why each loser was refused: past its TTL when the call arrived and not yet swept;
      // settled (by the other call or a sweeper) before the call read it; or it read the hold
      // still reserved and lost the conditional update to a settlement in flight — the race
      // decided inside the database.
      const why = { pastTtl: 0, alreadySettled: 0, lostInDb: 0 };
      for (const c of settledAnswers) {
        const message = (c.outcome as { error?: { message?: string } }).error?.message ?? '';
        if (/expired; its credits/.test(message)) why.pastTtl++;
        else if (/already settled/.test(message)) why.lostInDb++;
        else why.alreadySettled++;
      }
      note(
        `phase 3 — expiry races too: ${RESERVES_TTL} reserves with ttlSec ${ttlSec}…${ttlSec + TTL_SPREAD_SEC - 1} in ${Math.round(storm.ms)} ms: ${storm.tally.count('ok')} holds, ${storm.tally.count('INSUFFICIENT_CREDITS')} INSUFFICIENT_CREDITS, ${storm.tally.unexpected(['ok', 'INSUFFICIENT_CREDITS']).length} other`,
        ...distribution(storm.tally, servers),
        `  race: capture + release at expiresAt ${RACE_WINDOW_MS[0]}…+${RACE_WINDOW_MS[1]} ms (${tally.calls.length} calls, last answer ${Math.round(raceMs)} ms after the storm; call latency p50 ${pct(tally, 0.5)} ms, p95 ${pct(tally, 0.95)} ms): ${counts.captured} captured, ${counts.released} released, ${counts.expired} expired by the sweepers (${counts.expiredAfterEarlyCall} of them although the calls went out before expiry), 0 double`,
        `  ${settledAnswers.length} HOLD_SETTLED (${why.pastTtl} past the TTL on arrival, ${why.alreadySettled} already settled when read, ${why.lostInDb} lost the conditional update inside the database), ${tally.unexpected(['ok', 'HOLD_SETTLED']).length} other`,
        `  wallet: available ${w.available} + spent ${w.spent} = granted ${wsB.granted}, held 0`,
        ...distribution(tally, servers),
      );
    }, 90_000);

    it('`verify` is clean on the schema, nothing is negative, no process logged an error', async () => {
      const verified = await runVerifyCli(url);
      expect(verified.code, verified.output).toBe(0);
      expect(verified.output).toMatch(/ 0 violations/);
      const negative = await db!.read.get<{ wallets: number; lots: number; entries: number }>(
        `SELECT
           (SELECT COUNT(*) FROM wallets WHERE available < 0 OR held < 0) AS "wallets",
           (SELECT COUNT(*) FROM lots WHERE remaining < 0 OR remaining > granted) AS "lots",
           (SELECT COUNT(*) FROM ledger_entries WHERE balance_after < 0 OR held_after < 0) AS "entries"`,
      );
      expect({
        wallets: Number(negative?.wallets),
        lots: Number(negative?.lots),
        entries: Number(negative?.entries),
      }).toEqual({
        wallets: 0,
        lots: 0,
        entries: 0,
      });
      const errors = logs.flatMap((f, i) => errorLines(f).map((l) => `#${i}: ${l.slice(0, 300)}`));
      expect(errors, errors.join('\n')).toEqual([]);
      note(
        `verify: ${verified.output.trim().split('\n')[0]}; negative wallets/lots/entries: 0/0/0; server error log lines: 0`,
      );
    }, 60_000);
  },
);
