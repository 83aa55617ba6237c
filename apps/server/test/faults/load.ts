import { isDeepStrictEqual } from 'node:util';
import { PostgresDriver } from '@credits/store';
import { mutate, sleep, type CallOutcome, type ServerProcess } from '../crash-server.js';
import { classify } from '../multi-process-harness.js';

/**
 * The fault suite's load: retrying clients doing charges, and reserves each followed by its
 * capture, spread over several server processes for a measured window. Every request and
 * answer is recorded; a retryable answer (STORE_UNAVAILABLE, or no complete answer at all) is
 * sent again with the same idempotency key and the same input, to the next process. Afterwards
 * `checkAfterLoad` replays every acknowledged key, checks conservation per wallet and counts
 * the jobs (one per key: nothing applied twice).
 */

export const SERVICE_KEY = 'faults-load-service-key-0123456789';
export const JOB = { kind: 'image', type: 'hero', count: 1 } as const;
export const WALLET = 'image_credits';
/** Credits granted to each workspace: far more than any window spends. */
export const GRANT = 1_000_000_000;

/** Answers worth the same request again: the store was unavailable, or nothing complete came back. */
export function retryable(label: string): boolean {
  return label === 'STORE_UNAVAILABLE' || label.startsWith('LOST:');
}

export interface Attempt {
  port: number;
  at: number;
  ms: number;
  label: string;
  outcome: CallOutcome;
}

export interface Op {
  kind: 'charge' | 'reserve' | 'capture';
  phase: string;
  client: number;
  workspaceId: string;
  path: string;
  key: string;
  input: Record<string, unknown>;
  attempts: Attempt[];
  /** The first successful answer: the operation is acknowledged. */
  answer?: unknown;
  /** A final answer that is neither a success nor retryable. */
  refused?: Attempt;
}

/** Where client loops send requests: the processes alive now (a slot may be restarting). */
export interface Targets {
  list(): readonly ServerProcess[];
}

export class Recorder {
  readonly ops: Op[] = [];
  requests = 0;
  retries = 0;

  /** Send until acknowledged, refused, or `giveUpMs` passed; rotating processes on each retry. */
  async send(op: Op, targets: Targets, giveUpMs: number): Promise<Op> {
    if (!this.ops.includes(op)) this.ops.push(op);
    const deadline = Date.now() + giveUpMs;
    for (let attempt = 0; ; attempt++) {
      const alive = targets.list();
      const server = alive[(op.client + op.attempts.length) % alive.length]!;
      const t0 = performance.now();
      const outcome = await mutate(server.base, SERVICE_KEY, op.path, op.input);
      this.requests++;
      const a: Attempt = {
        port: server.port,
        at: Date.now(),
        ms: performance.now() - t0,
        label: classify(outcome),
        outcome,
      };
      op.attempts.push(a);
      if (outcome.kind === 'ok') {
        op.answer = outcome.data;
        return op;
      }
      if (!retryable(a.label)) {
        op.refused = a;
        return op;
      }
      if (Date.now() > deadline) return op;
      this.retries++;
      // A short, growing pause with jitter: the pool heals in milliseconds, so a long back-off
      // only loses throughput.
      await sleep(Math.min(200, 10 * 2 ** Math.min(attempt, 4)) * (0.5 + Math.random()));
    }
  }

  labels(phase?: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const op of this.ops)
      if (phase === undefined || op.phase === phase)
        for (const a of op.attempts) out[a.label] = (out[a.label] ?? 0) + 1;
    return out;
  }
}

/** `clients` loops until `windowMs` passed: odd steps charge, even steps reserve then capture. */
export async function runLoad(opts: {
  recorder: Recorder;
  targets: Targets;
  workspaces: readonly string[];
  clients: number;
  windowMs: number;
  phase: string;
  giveUpMs?: number;
}): Promise<{ acked: number; ms: number; perSecond: number }> {
  const { recorder, targets, workspaces, phase } = opts;
  const giveUpMs = opts.giveUpMs ?? 20_000;
  let acked = 0;
  const t0 = performance.now();
  const end = Date.now() + opts.windowMs;
  await Promise.all(
    Array.from({ length: opts.clients }, async (_, client) => {
      const workspaceId = workspaces[client % workspaces.length]!;
      for (let step = 0; Date.now() < end; step++) {
        const key = `${phase}-${client}-${step}`;
        const op = (kind: Op['kind'], path: string, input: Record<string, unknown>): Op => ({
          kind,
          phase,
          client,
          workspaceId,
          path,
          key: String(input.idempotencyKey),
          input,
          attempts: [],
        });
        if (step % 2 === 1) {
          const charge = await recorder.send(
            op('charge', 'usage.charge', { workspaceId, job: JOB, idempotencyKey: key }),
            targets,
            giveUpMs,
          );
          if (charge.answer) acked++;
          continue;
        }
        const reserve = await recorder.send(
          op('reserve', 'usage.reserve', { workspaceId, job: JOB, idempotencyKey: key }),
          targets,
          giveUpMs,
        );
        if (!reserve.answer) continue;
        acked++;
        const holdId = (reserve.answer as { holdId: string }).holdId;
        const capture = await recorder.send(
          op('capture', 'usage.capture', { workspaceId, holdId, idempotencyKey: `${key}-capture` }),
          targets,
          giveUpMs,
        );
        if (capture.answer) acked++;
      }
    }),
  );
  const ms = performance.now() - t0;
  return { acked, ms, perSecond: (acked / ms) * 1000 };
}

export interface AfterLoad {
  /** Operations with no answer at the end of the load, sent again (no faults now) until acknowledged. */
  resolvedAfter: number;
  replays: number;
  replayMismatches: string[];
  refused: string[];
  /** Per workspace: expected and actual available, held, completed jobs. */
  wallets: {
    workspaceId: string;
    expected: { available: number; held: number; jobs: number };
    actual: { available: number; held: number; jobs: number };
  }[];
}

/**
 * After the load: every operation left without an answer is sent again until acknowledged
 * (a reserve that never got one is then captured too); every acknowledged key is replayed
 * (same answer); per workspace, available = granted − Σ acknowledged charges − Σ acknowledged
 * captures, held 0, and exactly one completed job per charge and per reserve.
 */
export async function checkAfterLoad(opts: {
  recorder: Recorder;
  targets: Targets;
  workspaces: readonly string[];
  databaseUrl: string;
}): Promise<AfterLoad> {
  const { recorder, targets } = opts;
  let resolvedAfter = 0;
  for (const op of [...recorder.ops]) {
    if (op.answer || op.refused) continue;
    resolvedAfter++;
    await recorder.send(op, targets, 30_000);
    if (op.kind === 'reserve' && op.answer) {
      const holdId = (op.answer as { holdId: string }).holdId;
      const capture: Op = {
        ...op,
        kind: 'capture',
        path: 'usage.capture',
        key: `${op.key}-capture`,
        input: { workspaceId: op.workspaceId, holdId, idempotencyKey: `${op.key}-capture` },
        attempts: [],
        answer: undefined,
      };
      await recorder.send(capture, targets, 30_000);
    }
  }
  const refused = recorder.ops
    .filter((o) => !o.answer)
    .map(
      (o) =>
        `${o.path} ${o.key}: ${o.refused ? JSON.stringify(o.refused.outcome).slice(0, 300) : `no answer after ${o.attempts.length} attempts`}`,
    );

  // Replays, 16 at a time, each to another process than the one that first answered.
  const acked = recorder.ops.filter((o) => o.answer);
  const replayMismatches: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (;;) {
        const i = next++;
        if (i >= acked.length) return;
        const op = acked[i]!;
        const alive = targets.list();
        const server = alive[i % alive.length]!;
        const out = await mutate(server.base, SERVICE_KEY, op.path, op.input);
        if (out.kind !== 'ok' || !isDeepStrictEqual(out.data, op.answer))
          replayMismatches.push(
            `${op.path} ${op.key}: first ${JSON.stringify(op.answer)}, replay ${JSON.stringify(out).slice(0, 300)}`,
          );
      }
    }),
  );

  const db = await PostgresDriver.open({ url: opts.databaseUrl, max: 2 });
  try {
    const wallets: AfterLoad['wallets'] = [];
    for (const workspaceId of opts.workspaces) {
      const mine = acked.filter((o) => o.workspaceId === workspaceId);
      const spent = mine.reduce((sum, o) => {
        if (o.kind === 'charge') return sum + (o.answer as { credits: number }).credits;
        if (o.kind === 'capture') return sum + (o.answer as { captured: number }).captured;
        return sum;
      }, 0);
      const jobs = mine.filter((o) => o.kind !== 'capture').length;
      const w = await db.read.get<{ available: number; held: number }>(
        `SELECT available, held FROM wallets WHERE workspace_id = ? AND kind = ?`,
        [workspaceId, WALLET],
      );
      const j = await db.read.get<{ n: number }>(
        `SELECT COUNT(*) AS "n" FROM jobs WHERE workspace_id = ? AND status = 'completed'`,
        [workspaceId],
      );
      wallets.push({
        workspaceId,
        expected: { available: GRANT - spent, held: 0, jobs },
        actual: { available: Number(w?.available), held: Number(w?.held), jobs: Number(j?.n) },
      });
    }
    return { resolvedAfter, replays: acked.length, replayMismatches, refused, wallets };
  } finally {
    await db.close();
  }
}

/** Create the workspaces (business plan) and grant each {@link GRANT} image credits. */
export async function fundWorkspaces(base: string, ids: readonly string[]): Promise<void> {
  for (const id of ids) {
    for (const [path, input] of [
      [
        'admin.workspaces.create',
        { id, name: `faults ${id}`, plan: 'business', idempotencyKey: `create-${id}` },
      ],
      [
        'admin.ledger.grant',
        {
          workspaceId: id,
          wallet: WALLET,
          amount: GRANT,
          source: 'purchase',
          reason: 'fault suite',
          idempotencyKey: `grant-${id}`,
        },
      ],
    ] as const) {
      const out = await mutate(base, SERVICE_KEY, path, input);
      if (out.kind !== 'ok') throw new Error(`${path} failed: ${JSON.stringify(out)}`);
    }
  }
}
