import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';

/** Per-connection state a sequence of steps shares (e.g. the hold a reserve returned). */
export type StepContext = Record<string, unknown>;

/** One request in the sequence each connection repeats. */
export interface LoadStep {
  name: string;
  method: 'GET' | 'POST';
  path: string;
  /** The body of the next request (called per request: fresh idempotency keys go here). */
  body?: (ctx: StepContext) => string;
  /** Sees every answer; use it to carry ids to the next step. */
  onAnswer?: (input: { status: number; body: string; ctx: StepContext }) => void;
}

/** One run of the load: raw figures, merged with {@link summarize}. */
export interface LoadSlice {
  /** The measured duration autocannon reports, in seconds. */
  seconds: number;
  /** 2xx answers per step, in step order. */
  okByStep: number[];
  /** Non-2xx answers. */
  failed: number;
  /** Connection errors and timeouts. */
  errors: number;
  /** Every answer's time in ms, in arrival order. */
  latencies: Float64Array;
  wallSeconds: number;
  /** CPU the load generator (this process) used, in seconds. */
  clientCpuSeconds: number;
  /** CPU the server process used, in seconds (Linux /proc), or null. */
  serverCpuSeconds: number | null;
  /** The first non-2xx answer, for the report. */
  firstFailure: string | null;
}

export interface LoadSummary {
  seconds: number;
  /** Completed operations: an operation is every step answered 2xx (min over steps). */
  ops: number;
  opsPerSec: number;
  failed: number;
  errors: number;
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number };
  /** % of one core. */
  clientCpuPct: number;
  serverCpuPct: number | null;
  firstFailure: string | null;
}

/** utime + stime of a process in seconds, from /proc (Linux); null elsewhere. */
function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    return ticks / 100; // USER_HZ is 100 on Linux
  } catch {
    return null;
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** Merge slices of the same workload into one set of figures. */
export function summarize(slices: readonly LoadSlice[]): LoadSummary {
  const seconds = slices.reduce((t, s) => t + s.seconds, 0);
  const wall = slices.reduce((t, s) => t + s.wallSeconds, 0);
  const steps = slices[0]?.okByStep.length ?? 0;
  const okByStep = Array.from({ length: steps }, (_, i) =>
    slices.reduce((t, s) => t + s.okByStep[i]!, 0),
  );
  const ops = steps ? Math.min(...okByStep) : 0;
  const all = new Float64Array(slices.reduce((t, s) => t + s.latencies.length, 0));
  let at = 0;
  for (const s of slices) {
    all.set(s.latencies, at);
    at += s.latencies.length;
  }
  all.sort();
  const serverCpu = slices.every((s) => s.serverCpuSeconds !== null)
    ? slices.reduce((t, s) => t + s.serverCpuSeconds!, 0)
    : null;
  return {
    seconds,
    ops,
    opsPerSec: seconds > 0 ? ops / seconds : 0,
    failed: slices.reduce((t, s) => t + s.failed, 0),
    errors: slices.reduce((t, s) => t + s.errors, 0),
    latencyMs: {
      p50: percentile(all, 50),
      p90: percentile(all, 90),
      p99: percentile(all, 99),
      p999: percentile(all, 99.9),
      max: all.length ? all[all.length - 1]! : Number.NaN,
    },
    clientCpuPct: wall > 0 ? (slices.reduce((t, s) => t + s.clientCpuSeconds, 0) / wall) * 100 : 0,
    serverCpuPct: serverCpu === null || wall === 0 ? null : (serverCpu / wall) * 100,
    firstFailure: slices.find((s) => s.firstFailure)?.firstFailure ?? null,
  };
}

/**
 * Drive `steps` in a loop over `connections` keep-alive connections for `seconds`, with
 * autocannon (one request in flight per connection: closed loop, no pipelining). Latencies are
 * every answer's own time in ms (sub-millisecond), not autocannon's 1 ms histogram.
 */
export function runLoad(input: {
  baseUrl: string;
  headers: Record<string, string>;
  steps: LoadStep[];
  seconds: number;
  connections: number;
  serverPid?: number;
}): Promise<LoadSlice> {
  const okByStep = input.steps.map(() => 0);
  let failed = 0;
  let firstFailure: string | null = null;
  let latencies = new Float64Array(1 << 16);
  let count = 0;

  const requests: autocannon.Request[] = input.steps.map((step, index) => ({
    method: step.method,
    path: step.path,
    ...(step.body
      ? {
          setupRequest: (req: autocannon.Request, ctx: object) => ({
            ...req,
            body: step.body!(ctx as StepContext),
          }),
        }
      : {}),
    onResponse: (status: number, body: string, ctx: object) => {
      if (status >= 200 && status < 300) okByStep[index]! += 1;
      else {
        failed += 1;
        firstFailure ??= `${step.name}: HTTP ${status} ${body.slice(0, 300)}`;
      }
      step.onAnswer?.({ status, body, ctx: ctx as StepContext });
    },
  }));

  const cpu0 = process.cpuUsage();
  const server0 = input.serverPid === undefined ? null : processCpuSeconds(input.serverPid);
  const t0 = performance.now();

  return new Promise<LoadSlice>((resolve, reject) => {
    const instance = autocannon(
      {
        url: input.baseUrl,
        connections: input.connections,
        pipelining: 1,
        duration: input.seconds,
        headers: input.headers,
        requests,
        timeout: 10,
      },
      (err, result) => {
        if (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        const cpu = process.cpuUsage(cpu0);
        const server1 = input.serverPid === undefined ? null : processCpuSeconds(input.serverPid);
        resolve({
          seconds: result.duration,
          okByStep,
          failed,
          errors: result.errors,
          latencies: latencies.slice(0, count),
          wallSeconds: (performance.now() - t0) / 1000,
          clientCpuSeconds: (cpu.user + cpu.system) / 1e6,
          serverCpuSeconds: server0 === null || server1 === null ? null : server1 - server0,
          firstFailure,
        });
      },
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = responseTime;
    });
  });
}
