import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * The crash-safety test's harness: the real server as a child process on loopback, and a
 * minimal tRPC-over-HTTP caller that tells an acknowledged answer from a lost request.
 */

export const SERVER_DIR = resolve(import.meta.dirname, '..');

/**
 * The server runs as `node --import tsx src/main.ts`, not through `node_modules/.bin/tsx`: the
 * tsx CLI forks a second node process and only relays catchable signals, so a SIGKILL sent to
 * it would kill the wrapper and leave the real server running. With the loader, the child we
 * kill is the process that holds the database.
 */
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

const HOST = '127.0.0.1';

export interface ServerOptions {
  databaseUrl: string;
  serviceKey: string;
  /** Every start appends its output here. */
  logFile: string;
  /** Extra environment for the child (e.g. HOLD_TTL_SEC, SWEEP_INTERVAL_MS); applied last. */
  env?: Record<string, string>;
  /** Extra arguments after `serve` (e.g. `--seed-demo`). */
  args?: string[];
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly base: string;
  readonly exited: Promise<ExitStatus>;
  alive(): boolean;
}

/** Every child ever started, so a failing test can still kill them all (afterAll). */
export const started = new Set<ChildProcess>();

export function killAll(): void {
  for (const child of started) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolvePort) => {
    const probe = net.createServer();
    probe.once('error', () => resolvePort(false));
    probe.listen({ port, host: HOST, exclusive: true }, () => probe.close(() => resolvePort(true)));
  });
}

function logTail(file: string, chars = 4000): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.slice(-chars);
  } catch {
    return '(no log)';
  }
}

/**
 * Start the server on a random free high port and wait until `/readyz` answers 200.
 * A start that loses its port to another process (EADDRINUSE) is retried on another one.
 */
export async function startServer(
  opts: ServerOptions,
  { timeoutMs = 30_000 } = {},
): Promise<ServerProcess> {
  for (let attempt = 1; attempt <= 5; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    if (!(await portIsFree(port))) continue;
    const log = openSync(opts.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(
        process.execPath,
        ['--import', TSX_LOADER, 'src/main.ts', 'serve', ...(opts.args ?? [])],
        {
          cwd: SERVER_DIR,
          detached: false,
          stdio: ['ignore', log, log],
          env: {
            ...process.env,
            NODE_ENV: 'test',
            DATABASE_URL: opts.databaseUrl,
            PORT: String(port),
            HOST,
            LOG_LEVEL: 'warn',
            CREDITS_SERVICE_KEY: opts.serviceKey,
            ...opts.env,
          },
        },
      );
    } finally {
      closeSync(log);
    }
    started.add(child);
    const exited = new Promise<ExitStatus>((r) =>
      child.once('exit', (code, signal) => r({ code, signal })),
    );
    const proc: ServerProcess = {
      child,
      port,
      base: `http://${HOST}:${port}`,
      exited,
      alive: () => child.exitCode === null && child.signalCode === null,
    };
    const deadline = Date.now() + timeoutMs;
    let ready = false;
    while (Date.now() < deadline && proc.alive()) {
      try {
        const res = await fetch(`${proc.base}/readyz`, { signal: AbortSignal.timeout(1_000) });
        await res.arrayBuffer();
        if (res.status === 200 && proc.alive()) {
          ready = true;
          break;
        }
      } catch {
        // not listening yet
      }
      await sleep(50);
    }
    if (ready) return proc;
    if (proc.alive()) {
      child.kill('SIGKILL');
      await exited;
      throw new Error(
        `server did not become ready in ${timeoutMs} ms; log:\n${logTail(opts.logFile)}`,
      );
    }
    await exited;
    if (/EADDRINUSE/.test(logTail(opts.logFile, 2000))) continue;
    throw new Error(
      `server exited during start (${JSON.stringify(await exited)}); log:\n${logTail(opts.logFile)}`,
    );
  }
  throw new Error('no free port after 5 attempts');
}

/** SIGKILL: no handler runs, nothing is flushed or drained. */
export async function hardKill(proc: ServerProcess): Promise<ExitStatus> {
  proc.child.kill('SIGKILL');
  return proc.exited;
}

/** SIGTERM: the server's own graceful path (stop accepting, drain the write queue, close). */
export async function stop(proc: ServerProcess, timeoutMs = 15_000): Promise<ExitStatus> {
  proc.child.kill('SIGTERM');
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), timeoutMs);
  try {
    return await proc.exited;
  } finally {
    clearTimeout(timer);
  }
}

export type CallOutcome =
  /** The server answered with a result: the operation is acknowledged. */
  | { kind: 'ok'; data: unknown }
  /** The server answered with an error: acknowledged as refused. */
  | { kind: 'error'; status: number; error: unknown }
  /** No complete answer (connection reset, refused, timed out): unacknowledged. */
  | { kind: 'lost'; cause: string };

/** POST a tRPC mutation. Only a fully read, parsed answer counts as acknowledged. */
export async function mutate(
  base: string,
  key: string,
  path: string,
  input: unknown,
): Promise<CallOutcome> {
  let status: number;
  let body: unknown;
  try {
    const res = await fetch(`${base}/trpc/${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(input),
      signal: AbortSignal.timeout(15_000),
    });
    status = res.status;
    body = await res.json();
  } catch (e) {
    return { kind: 'lost', cause: causeOf(e) };
  }
  const b = body as { result?: { data: unknown }; error?: unknown };
  if (b && typeof b === 'object' && 'result' in b && b.result)
    return { kind: 'ok', data: b.result.data };
  return { kind: 'error', status, error: b?.error ?? body };
}

/** GET a tRPC query; throws on anything but a result. */
export async function query<T>(
  base: string,
  key: string,
  path: string,
  input: unknown,
): Promise<T> {
  const res = await fetch(
    `${base}/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`,
    {
      headers: { authorization: `Bearer ${key}` },
      signal: AbortSignal.timeout(15_000),
    },
  );
  const body = (await res.json()) as { result?: { data: T }; error?: unknown };
  if (!body.result)
    throw new Error(`${path} failed (${res.status}): ${JSON.stringify(body.error ?? body)}`);
  return body.result.data;
}

function causeOf(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  return err?.cause?.code ?? err?.name ?? err?.cause?.message ?? err?.message ?? String(e);
}

/** Run the CLI `verify` against the file; resolves with its exit code and output. */
export function runVerifyCli(
  databaseUrl: string,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, ['--import', TSX_LOADER, 'src/main.ts', 'verify'], {
      cwd: SERVER_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
    });
    started.add(child);
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolveRun({ code, output });
    });
  });
}
