import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import {
  adminClient,
  ownDatabase,
  terminateBackends,
} from '../../../../packages/store/test/pg-faults.js';
import {
  killAll,
  runVerifyCli,
  sleep,
  startServer,
  stop,
  type ServerProcess,
} from '../crash-server.js';
import {
  Recorder,
  SERVICE_KEY,
  checkAfterLoad,
  fundWorkspaces,
  runLoad,
  type Targets,
} from './load.js';

/**
 * Issue 11, the fault suite's first must-show: three server processes on one PostgreSQL
 * database of the test's own, retrying clients charging, reserving and capturing for a measured
 * window, first without faults (the baseline), then with every backend of that database (only
 * that one: `datname` is the test's own) terminated every 100–500 ms. Then: 0 process exits,
 * every acknowledged key replays the same answer, conservation per wallet (available = granted
 * − acknowledged charges − acknowledged captures, one completed job per key), `verify` clean,
 * and throughput under faults at least half the baseline's.
 *
 * The windows last FAULT_WINDOW_S seconds each (default 10, so the test stays near a minute in
 * CI; the issue's 30 s is FAULT_WINDOW_S=30). Needs TEST_DATABASE_URL; prints a SKIPPED line
 * without it.
 */
const PG_URL = process.env.TEST_DATABASE_URL ?? '';
if (!PG_URL) console.log('SKIPPED faults/pg-kill-backends: TEST_DATABASE_URL is not set');
const WINDOW_S = Number(process.env.FAULT_WINDOW_S ?? 10);
const CLIENTS = 12;
const WORKSPACES = ['ws_kill_a', 'ws_kill_b', 'ws_kill_c', 'ws_kill_d'];
const KILL_EVERY_MS: [number, number] = [100, 500];

afterAll(() => killAll());

it.skipIf(!PG_URL)(
  `three processes, retrying clients, every backend of the test's database killed every 100–500 ms for ${WINDOW_S} s: 0 exits, nothing lost or doubled, verify clean, ≥ 0.5× the baseline`,
  { timeout: 60_000 + 2 * WINDOW_S * 1000 + 60_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'faults-kill-'));
    const db = await ownDatabase(PG_URL, 'faults_kill');
    let admin: Awaited<ReturnType<typeof adminClient>> | undefined;
    let servers: ServerProcess[] = [];
    const notes: string[] = [];
    try {
      servers = await Promise.all(
        [0, 1, 2].map((i) =>
          startServer(
            { databaseUrl: db.url, serviceKey: SERVICE_KEY, logFile: join(dir, `server-${i}.log`) },
            { timeoutMs: 60_000 },
          ),
        ),
      );
      const exits: string[] = [];
      servers.forEach(
        (s, i) =>
          void s.exited.then((e) => exits.push(`#${i} pid ${s.child.pid}: ${JSON.stringify(e)}`)),
      );
      const targets: Targets = { list: () => servers };
      await fundWorkspaces(servers[0]!.base, WORKSPACES);
      const recorder = new Recorder();
      const windowMs = WINDOW_S * 1000;

      const baseline = await runLoad({
        recorder,
        targets,
        workspaces: WORKSPACES,
        clients: CLIENTS,
        windowMs,
        phase: 'baseline',
      });

      admin = await adminClient(PG_URL);
      let kills = 0;
      let terminated = 0;
      let killing = true;
      const killer = (async () => {
        while (killing) {
          const [lo, hi] = KILL_EVERY_MS;
          await sleep(lo + Math.random() * (hi - lo));
          if (!killing) break;
          terminated += await terminateBackends(admin!, db.name);
          kills++;
        }
      })();
      const loadAvgBefore = loadavg()[0]!;
      let faulted;
      try {
        faulted = await runLoad({
          recorder,
          targets,
          workspaces: WORKSPACES,
          clients: CLIENTS,
          windowMs,
          phase: 'faults',
        });
      } finally {
        killing = false;
        await killer;
      }
      const loadAvg = loadavg()[0]!;

      const after = await checkAfterLoad({
        recorder,
        targets,
        workspaces: WORKSPACES,
        databaseUrl: db.url,
      });
      const verified = await runVerifyCli(db.url);
      const ratio = faulted.perSecond / baseline.perSecond;
      notes.push(
        `faults/pg-kill-backends: 3 processes, ${CLIENTS} retrying clients, ${WINDOW_S} s windows (FAULT_WINDOW_S)`,
        `  without faults: ${baseline.acked} acknowledged in ${Math.round(baseline.ms)} ms = ${baseline.perSecond.toFixed(1)} ops/s; answers ${JSON.stringify(recorder.labels('baseline'))}`,
        `  with faults:    ${faulted.acked} acknowledged in ${Math.round(faulted.ms)} ms = ${faulted.perSecond.toFixed(1)} ops/s; answers ${JSON.stringify(recorder.labels('faults'))}`,
        `  ratio faults / no faults = ${ratio.toFixed(2)}; ${kills} kill rounds terminated ${terminated} backends of ${db.name}; load average ${loadAvgBefore.toFixed(2)} → ${loadAvg.toFixed(2)}`,
        `  ${recorder.requests} requests recorded (${recorder.retries} retries) for ${recorder.ops.length} operations; ${after.resolvedAfter} resolved after the window; ${after.replays} acknowledged keys replayed, ${after.replayMismatches.length} differ; exits ${exits.length}`,
        `  wallets: ${after.wallets.map((w) => `${w.workspaceId} available ${w.actual.available} (expected ${w.expected.available}), held ${w.actual.held}, jobs ${w.actual.jobs}/${w.expected.jobs}`).join('; ')}`,
        `  verify: exit ${verified.code}, ${verified.output.trim().split('\n')[0]}`,
      );
      console.log(notes.join('\n'));

      expect(exits, 'server processes that exited').toEqual([]);
      expect(servers.every((s) => s.alive())).toBe(true);
      expect(kills, 'the killer ran').toBeGreaterThan(WINDOW_S);
      expect(terminated, 'backends were terminated').toBeGreaterThan(0);
      expect(after.refused, 'operations refused or never acknowledged').toEqual([]);
      expect(after.replayMismatches, 'acknowledged keys whose replay differs').toEqual([]);
      for (const w of after.wallets) expect(w.actual, w.workspaceId).toEqual(w.expected);
      expect(verified.code, verified.output).toBe(0);
      expect(verified.output).toMatch(/ 0 violations/);
      expect(ratio, 'throughput under faults / without').toBeGreaterThanOrEqual(0.5);
    } finally {
      await admin?.end().catch(() => undefined);
      await Promise.all(servers.map((s) => stop(s, 5_000).catch(() => undefined)));
      killAll();
      await db.drop().catch(() => undefined);
      if (process.env.KEEP_FAULTS_DIR) console.log(`faults/pg-kill-backends: kept ${dir}`);
      else rmSync(dir, { recursive: true, force: true });
    }
  },
);
