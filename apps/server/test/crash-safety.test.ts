import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { LedgerStore, SqliteDriver } from '@credits/store';
import {
  hardKill,
  killAll,
  mutate,
  query,
  runVerifyCli,
  sleep,
  startServer,
  stop,
  type CallOutcome,
  type ServerProcess,
} from './crash-server.js';

/**
 * Crash safety (issue 2): SIGKILL the server ten times under a load of reserves and captures,
 * restart it on the same SQLite file each time, and show that every acknowledged operation is
 * there, no unacknowledged one is half there, and `verify` is clean.
 */

const ROUNDS = 10;
const WORKERS = 16;
const KILL_AFTER_MS: [number, number] = [300, 1500];
const SERVICE_KEY = 'crash-safety-service-key-0123456789';
const WS = 'ws_crash';
const GRANT = 10_000_000;
const IMAGE_JOB = { kind: 'image', type: 'hero', count: 1 } as const;

type OpKind = 'reserve' | 'capture';
interface Op {
  round: number;
  kind: OpKind;
  key: string;
  input: Record<string, unknown>;
  /** The hold a capture settles. */
  holdId?: string;
  state: 'pending' | 'acked' | 'refused' | 'lost';
  answer?: unknown;
  error?: unknown;
  /** Still waiting for its answer when the SIGKILL went out. */
  inFlightAtKill?: boolean;
}
interface ReserveAnswer {
  holdId: string;
  credits: number;
  balance: number;
  held: number;
}
interface CaptureAnswer {
  holdId: string;
  status: string;
  captured: number;
  returned: number;
}

const dir = mkdtempSync(join(tmpdir(), 'credits-crash-'));
const databaseUrl = `sqlite:${join(dir, 'credits.db')}`;
const logFile = join(dir, 'server.log');
const serverOpts = { databaseUrl, serviceKey: SERVICE_KEY, logFile };

afterAll(() => {
  killAll();
  if (process.env.KEEP_CRASH_DIR) console.log(`crash-safety: kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
});

const ops: Op[] = [];

async function send(
  base: string,
  round: number,
  kind: OpKind,
  key: string,
  input: Record<string, unknown>,
  holdId?: string,
) {
  const op: Op = { round, kind, key, input, state: 'pending', ...(holdId ? { holdId } : {}) };
  ops.push(op);
  const out: CallOutcome = await mutate(base, SERVICE_KEY, `usage.${kind}`, input);
  if (out.kind === 'ok') {
    op.state = 'acked';
    op.answer = out.data;
  } else if (out.kind === 'error') {
    op.state = 'refused';
    op.error = out.error;
  } else {
    op.state = 'lost';
    op.error = out.cause;
  }
  return op;
}

/** One worker: reserve → capture (every third capture partial, so some return entries too). */
async function worker(base: string, round: number, w: number, ctl: { stop: boolean }) {
  for (let i = 0; !ctl.stop; i++) {
    const rKey = `r${round}.${w}.${i}`;
    const r = await send(base, round, 'reserve', rKey, {
      workspaceId: WS,
      job: IMAGE_JOB,
      idempotencyKey: rKey,
    });
    if (r.state === 'lost') return;
    if (r.state !== 'acked' || ctl.stop) continue;
    const hold = r.answer as ReserveAnswer;
    const cKey = `c${round}.${w}.${i}`;
    const input: Record<string, unknown> = {
      workspaceId: WS,
      holdId: hold.holdId,
      idempotencyKey: cKey,
    };
    if (i % 3 === 0) input.credits = Math.max(0, hold.credits - 3);
    const c = await send(base, round, 'capture', cKey, input, hold.holdId);
    if (c.state === 'lost') return;
  }
}

/** Resend acknowledged operations after a restart: each must replay its first answer. */
async function replayAcked(base: string, acked: Op[]): Promise<string[]> {
  const bad: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (next < acked.length) {
        const op = acked[next++]!;
        const out = await mutate(base, SERVICE_KEY, `usage.${op.kind}`, op.input);
        if (out.kind !== 'ok' || !isDeepStrictEqual(out.data, op.answer)) {
          bad.push(
            `${op.kind} ${op.key}: acked ${JSON.stringify(op.answer)}, replay ${JSON.stringify(out)}`,
          );
        }
      }
    }),
  );
  return bad;
}

async function pages<T>(base: string, path: string, input: Record<string, unknown>): Promise<T[]> {
  const all: T[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: T[]; nextCursor: string | null } = await query(base, SERVICE_KEY, path, {
      ...input,
      limit: 200,
      ...(cursor ? { cursor } : {}),
    });
    all.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

it(`acknowledged operations survive ${ROUNDS} SIGKILLs under load; nothing is half written; verify is clean`, async () => {
  const t0 = Date.now();
  let server: ServerProcess = await startServer(serverOpts);

  // A workspace with plenty of image credits (both acknowledged before any kill).
  const created = await mutate(server.base, SERVICE_KEY, 'admin.workspaces.create', {
    id: WS,
    name: 'Crash safety',
    plan: 'pro',
    idempotencyKey: 'crash-create',
  });
  expect(created.kind, JSON.stringify(created)).toBe('ok');
  const granted = await mutate(server.base, SERVICE_KEY, 'admin.ledger.grant', {
    workspaceId: WS,
    wallet: 'image_credits',
    amount: GRANT,
    source: 'purchase',
    reason: 'crash-safety load',
    idempotencyKey: 'crash-grant',
  });
  expect(granted.kind, JSON.stringify(granted)).toBe('ok');

  const replayProblems: string[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const ctl = { stop: false };
    const workers = Array.from({ length: WORKERS }, (_, w) => worker(server.base, round, w, ctl));
    const killAfter =
      KILL_AFTER_MS[0] + Math.floor(Math.random() * (KILL_AFTER_MS[1] - KILL_AFTER_MS[0]));
    await sleep(killAfter);

    // Stop issuing, then kill at once (synchronously: no request starts in between).
    ctl.stop = true;
    const pending = ops.filter((o) => o.round === round && o.state === 'pending');
    for (const o of pending) o.inFlightAtKill = true;
    const exit = await hardKill(server);
    expect(exit.signal, `round ${round}: server exit ${JSON.stringify(exit)}`).toBe('SIGKILL');
    await Promise.all(workers);

    const mine = ops.filter((o) => o.round === round);
    const count = (kind: OpKind, state: Op['state']) =>
      mine.filter((o) => o.kind === kind && o.state === state).length;
    const ackedLate = pending.filter((o) => o.state === 'acked').length;
    const lost = mine.filter((o) => o.state === 'lost');

    const restartedAt = Date.now();
    server = await startServer(serverOpts);
    const restartMs = Date.now() - restartedAt;
    const acked = mine.filter((o) => o.state === 'acked');
    const problems = await replayAcked(server.base, acked);
    replayProblems.push(...problems.map((p) => `round ${round}: ${p}`));

    const line =
      `round ${String(round).padStart(2)}: kill after ${killAfter} ms; acked ${count('reserve', 'acked')} reserves + ` +
      `${count('capture', 'acked')} captures; refused ${mine.filter((o) => o.state === 'refused').length}; ` +
      `in flight at kill ${pending.length} (${ackedLate} answered before the socket died, ${lost.length} unacknowledged: ` +
      `${lost.filter((o) => o.kind === 'reserve').length} reserves, ${lost.filter((o) => o.kind === 'capture').length} captures); ` +
      `restarted in ${restartMs} ms; replayed ${acked.length} acked, ${problems.length} mismatches`;
    console.log(`crash-safety ${line}`);
  }

  // (a) Through the API, after the last restart: every acknowledged operation is visible.
  const jobs = await pages<{ id: string; status: string; held: number; captured: number | null }>(
    server.base,
    'usage.jobs',
    { workspaceId: WS },
  );
  const history = await pages<{ type: string; amount: number; jobId: string | null }>(
    server.base,
    'usage.history',
    {
      workspaceId: WS,
    },
  );
  const apiJobs = new Map(jobs.map((j) => [j.id, j]));
  const apiEntries = new Map<string, { type: string; amount: number }[]>();
  for (const e of history)
    if (e.jobId) apiEntries.set(e.jobId, [...(apiEntries.get(e.jobId) ?? []), e]);
  const missing: string[] = [];
  for (const op of ops.filter((o) => o.state === 'acked')) {
    if (op.kind === 'reserve') {
      const a = op.answer as ReserveAnswer;
      const job = apiJobs.get(a.holdId);
      if (!job || job.held !== a.credits)
        missing.push(`reserve ${op.key} → ${a.holdId}: job ${JSON.stringify(job)}`);
      if (!apiEntries.get(a.holdId)?.some((e) => e.type === 'hold' && e.amount === -a.credits)) {
        missing.push(`reserve ${op.key} → ${a.holdId}: no hold entry of ${-a.credits}`);
      }
    } else {
      const a = op.answer as CaptureAnswer;
      const job = apiJobs.get(a.holdId);
      if (job?.status !== 'completed' || job.captured !== a.captured) {
        missing.push(`capture ${op.key} → ${a.holdId}: job ${JSON.stringify(job)}`);
      }
      if (
        a.captured > 0 &&
        !apiEntries.get(a.holdId)?.some((e) => e.type === 'spend' && e.amount === -a.captured)
      ) {
        missing.push(`capture ${op.key} → ${a.holdId}: no spend entry of ${-a.captured}`);
      }
    }
  }

  const stopped = await stop(server);
  expect(stopped, 'graceful stop after the last round').toEqual({ code: 0, signal: null });

  // (b)–(d) On the file itself, with the server gone.
  const driver = await SqliteDriver.open({ filename: databaseUrl.replace(/^sqlite:/, '') });
  const store = new LedgerStore(driver);
  try {
    const db = driver.read;
    const dbJobs = await db.all<{
      id: string;
      status: string;
      held: number;
      captured: number | null;
    }>(`SELECT id, status, held, captured FROM jobs WHERE workspace_id = ?`, [WS]);
    const dbEntries = await db.all<{
      id: number;
      wallet: string;
      type: string;
      amount: number;
      availableDelta: number;
      heldDelta: number;
      jobId: string | null;
    }>(
      `SELECT id, wallet, type, amount, available_delta AS "availableDelta", held_delta AS "heldDelta", job_id AS "jobId"
         FROM ledger_entries WHERE workspace_id = ? ORDER BY id`,
      [WS],
    );
    const dbKeys = await db.all<{ key: string; operation: string; response: string | null }>(
      `SELECT key, operation, response FROM idempotency_keys WHERE scope = ?`,
      [WS],
    );
    const dbWallets = await db.all<{ kind: string; available: number; held: number }>(
      `SELECT kind, available, held FROM wallets WHERE workspace_id = ?`,
      [WS],
    );

    const half: string[] = [];
    const jobById = new Map(dbJobs.map((j) => [j.id, j]));
    const entriesByJob = new Map<string, typeof dbEntries>();
    for (const e of dbEntries) {
      if (e.jobId === null) {
        if (!['grant', 'purchase', 'trial'].includes(e.type))
          half.push(`entry ${e.id} (${e.type}) has no job`);
        continue;
      }
      if (!jobById.has(e.jobId))
        half.push(`entry ${e.id} (${e.type}) names missing job ${e.jobId}`);
      entriesByJob.set(e.jobId, [...(entriesByJob.get(e.jobId) ?? []), e]);
    }
    // Every job row carries exactly the entries its state implies: hold; and once completed,
    // spend (if any captured) and return (if any unused).
    for (const j of dbJobs) {
      const got = (entriesByJob.get(j.id) ?? [])
        .map((e) => `${e.type}:${e.amount}:${e.availableDelta}:${e.heldDelta}`)
        .sort();
      const want = [`hold:${-j.held}:${-j.held}:${j.held}`];
      if (j.status === 'completed' && j.captured !== null) {
        if (j.captured > 0) want.push(`spend:${-j.captured}:0:${-j.captured}`);
        const back = j.held - j.captured;
        if (back > 0) want.push(`return:${back}:${back}:${-back}`);
      } else if (j.status !== 'reserved') {
        half.push(`job ${j.id} is ${j.status}: the load never releases and no hold expires`);
      }
      want.sort();
      if (!isDeepStrictEqual(got, want))
        half.push(
          `job ${j.id} (${j.status}): entries ${got.join(', ')}; expected ${want.join(', ')}`,
        );
    }
    // Idempotency records and effects match one to one: a reserve key per job, a capture key
    // per completed job, each with the answer its effect implies.
    const answers = new Map(dbKeys.map((k) => [k.key, k]));
    const reserveHolds = new Map<string, string>();
    const captureHolds = new Map<string, string>();
    for (const k of dbKeys) {
      if (k.response === null) {
        half.push(`key ${k.key} claimed without an answer`);
        continue;
      }
      const resp = JSON.parse(k.response) as ReserveAnswer & CaptureAnswer;
      if (k.operation === 'reserve') {
        if (reserveHolds.has(resp.holdId))
          half.push(`hold ${resp.holdId} answered by two reserve keys`);
        reserveHolds.set(resp.holdId, k.key);
        const j = jobById.get(resp.holdId);
        if (!j || j.held !== resp.credits)
          half.push(`reserve key ${k.key} answers ${resp.holdId} but job is ${JSON.stringify(j)}`);
      } else if (k.operation === 'capture') {
        if (captureHolds.has(resp.holdId)) half.push(`hold ${resp.holdId} captured under two keys`);
        captureHolds.set(resp.holdId, k.key);
        const j = jobById.get(resp.holdId);
        if (j?.status !== 'completed' || j.captured !== resp.captured) {
          half.push(`capture key ${k.key} answers ${resp.holdId} but job is ${JSON.stringify(j)}`);
        }
      }
    }
    for (const j of dbJobs) {
      if (!reserveHolds.has(j.id))
        half.push(`job ${j.id} has no reserve key (a reserve half written)`);
      if (j.status === 'completed' && !captureHolds.has(j.id))
        half.push(`job ${j.id} completed without a capture key`);
    }
    const sentKeys = new Set(ops.map((o) => o.key));
    for (const k of dbKeys) {
      if ((k.operation === 'reserve' || k.operation === 'capture') && !sentKeys.has(k.key))
        half.push(`unknown key ${k.key}`);
    }

    // Acknowledged: the stored answer is the one the client got. Refused: no trace.
    // Unacknowledged: either committed whole (its key answers and the effect is complete, as
    // checked above) or not at all (no key; a capture's hold still reserved).
    const lostAcks: string[] = [];
    let lostCommitted = 0;
    let lostAbsent = 0;
    for (const op of ops) {
      const row = answers.get(op.key);
      if (op.state === 'acked') {
        if (!row?.response || !isDeepStrictEqual(JSON.parse(row.response), op.answer)) {
          lostAcks.push(
            `${op.kind} ${op.key}: acked ${JSON.stringify(op.answer)}, stored ${row?.response ?? 'nothing'}`,
          );
        }
      } else if (op.state === 'refused') {
        if (row) half.push(`refused ${op.kind} ${op.key} left a key`);
      } else if (op.state === 'lost') {
        if (row) lostCommitted++;
        else {
          lostAbsent++;
          if (op.kind === 'capture' && jobById.get(op.holdId!)?.status !== 'reserved') {
            half.push(
              `unacknowledged capture ${op.key} has no key but hold ${op.holdId} is ${jobById.get(op.holdId!)?.status}`,
            );
          }
        }
      } else {
        half.push(`${op.kind} ${op.key} never settled on the client`);
      }
    }

    // (d) Wallet = sum of its ledger; for images, also = grant − captured, held = open holds.
    const walletProblems: string[] = [];
    for (const w of dbWallets) {
      const mine = dbEntries.filter((e) => e.wallet === w.kind);
      const avail = mine.reduce((s, e) => s + Number(e.availableDelta), 0);
      const held = mine.reduce((s, e) => s + Number(e.heldDelta), 0);
      if (Number(w.available) !== avail || Number(w.held) !== held) {
        walletProblems.push(`${w.kind}: wallet ${w.available}+${w.held}, ledger ${avail}+${held}`);
      }
      if (w.kind === 'image_credits') {
        const captured = dbJobs.reduce((s, j) => s + Number(j.captured ?? 0), 0);
        const open = dbJobs
          .filter((j) => j.status === 'reserved')
          .reduce((s, j) => s + Number(j.held), 0);
        if (Number(w.available) + Number(w.held) !== GRANT - captured || Number(w.held) !== open) {
          walletProblems.push(
            `image_credits: ${w.available}+${w.held} vs grant ${GRANT} − captured ${captured}; open holds ${open}`,
          );
        }
      }
    }

    const report = await store.verify();
    const cli = await runVerifyCli(databaseUrl);

    const acked = ops.filter((o) => o.state === 'acked');
    const lost = ops.filter((o) => o.state === 'lost');
    const total =
      `totals: ${ROUNDS} SIGKILLs, ${ops.length} requests, acked ${acked.filter((o) => o.kind === 'reserve').length} reserves + ` +
      `${acked.filter((o) => o.kind === 'capture').length} captures (all present, all replay identically); ` +
      `in flight at kill ${ops.filter((o) => o.inFlightAtKill).length}; unacknowledged ${lost.length} ` +
      `(${lostCommitted} committed whole, ${lostAbsent} absent, 0 half-written allowed); ` +
      `db: ${dbJobs.length} jobs, ${dbEntries.length} entries; verify: ${report.violations.length} violations, ` +
      `cli exit ${cli.code}; ${((Date.now() - t0) / 1000).toFixed(1)} s`;
    console.log(`crash-safety ${total}`);

    expect(missing, 'acknowledged operations missing through the API').toEqual([]);
    expect(replayProblems, 'acknowledged operations whose replay differs after restart').toEqual(
      [],
    );
    expect(lostAcks, 'acknowledged operations whose stored answer is missing or different').toEqual(
      [],
    );
    expect(half, 'half-written or unexplained state').toEqual([]);
    expect(walletProblems, 'wallets that disagree with their ledger').toEqual([]);
    expect(report.violations, 'store.verify()').toEqual([]);
    expect(cli.code, `CLI verify output:\n${cli.output}`).toBe(0);
    expect(
      ops.filter((o) => o.state === 'refused').map((o) => JSON.stringify(o.error)),
      'refused operations',
    ).toEqual([]);
    // The test shows something only if the kills actually hit a load.
    expect(acked.length).toBeGreaterThan(ROUNDS * 10);
    expect(ops.filter((o) => o.inFlightAtKill).length).toBeGreaterThan(0);
  } finally {
    await store.close();
  }
}, 240_000);
