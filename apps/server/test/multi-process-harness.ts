import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { PostgresDriver } from '@credits/store';
import { SERVER_DIR, mutate, started, type CallOutcome } from './crash-server.js';

/**
 * Helpers for the multi-process PostgreSQL test: a schema of its own per run, named in the
 * connection URL (libpq `options=-c search_path=…`, which `pg` honours, so the unmodified CLI
 * and servers all land in it), the CLI run as a child, and client loops that record every
 * answer by process.
 */

const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

/** A fresh schema name; lower-case so it needs no quoting. */
export function newSchemaName(prefix = 'mp'): string {
  return `${prefix}_${randomBytes(6).toString('hex')}`;
}

/** The base URL with `options=-c search_path=<schema>` (keeps any query it already has). */
export function schemaUrl(base: string, schema: string): string {
  if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name ${schema}`);
  const sep = base.includes('?') ? '&' : '?';
  return `${base}${sep}options=${encodeURIComponent(`-c search_path=${schema}`)}`;
}

/** A small pool on the bare URL (no search_path), for CREATE/DROP SCHEMA. */
export function openAdmin(url: string): Promise<PostgresDriver> {
  return PostgresDriver.open({ url, max: 2 });
}

export async function createSchema(baseUrl: string, schema: string): Promise<void> {
  const admin = await openAdmin(baseUrl);
  try {
    await admin.read.run(`CREATE SCHEMA ${schema}`);
  } finally {
    await admin.close();
  }
}

export async function dropSchema(baseUrl: string, schema: string): Promise<void> {
  const admin = await openAdmin(baseUrl);
  try {
    await admin.read.run(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  } finally {
    await admin.close();
  }
}

/** Run `src/main.ts <args>` against a database; resolves with its exit code and output. */
export function runCli(
  args: string[],
  databaseUrl: string,
  timeoutMs = 60_000,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, ['--import', TSX_LOADER, 'src/main.ts', ...args], {
      cwd: SERVER_DIR,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn' },
    });
    started.add(child);
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolveRun({ code, output });
    });
  });
}

/**
 * One word for an answer: `ok`, the error's `data.reason` (INSUFFICIENT_CREDITS, HOLD_SETTLED,
 * …), `HTTP_<status>` for an error without a reason (an internal error), `LOST:<cause>` for no
 * complete answer.
 */
export function classify(outcome: CallOutcome): string {
  if (outcome.kind === 'ok') return 'ok';
  if (outcome.kind === 'lost') return `LOST:${outcome.cause}`;
  const reason = (outcome.error as { data?: { reason?: string | null } } | undefined)?.data?.reason;
  return reason ?? `HTTP_${outcome.status}`;
}

export interface Call {
  /** Which op in the run (0-based). */
  index: number;
  client: number;
  port: number;
  path: string;
  input: Record<string, unknown>;
  outcome: CallOutcome;
  label: string;
  ms: number;
}

/** Counts of labels per port and in total. */
export class Tally {
  readonly calls: Call[] = [];
  add(call: Call): void {
    this.calls.push(call);
  }
  count(label: string, path?: string): number {
    return this.calls.filter((c) => c.label === label && (path === undefined || c.path === path))
      .length;
  }
  byLabel(path?: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.calls)
      if (path === undefined || c.path === path) out[c.label] = (out[c.label] ?? 0) + 1;
    return out;
  }
  byPort(): Record<number, Record<string, number>> {
    const out: Record<number, Record<string, number>> = {};
    for (const c of this.calls) {
      const p = (out[c.port] ??= {});
      p[c.label] = (p[c.label] ?? 0) + 1;
      p.total = (p.total ?? 0) + 1;
    }
    return out;
  }
  /** The calls whose label is not in `allowed`, for an assertion message. */
  unexpected(allowed: readonly string[]): Call[] {
    return this.calls.filter((c) => !allowed.includes(c.label));
  }
}

export async function call(
  tally: Tally,
  base: { port: number; base: string },
  key: string,
  meta: { index: number; client: number },
  path: string,
  input: Record<string, unknown>,
): Promise<Call> {
  const t0 = performance.now();
  const outcome = await mutate(base.base, key, path, input);
  const c: Call = {
    ...meta,
    port: base.port,
    path,
    input,
    outcome,
    label: classify(outcome),
    ms: performance.now() - t0,
  };
  tally.add(c);
  return c;
}

/**
 * `clients` loops share `total` ops: each loop takes the next op index until none is left.
 * Client `c` talks only to `servers[c % servers.length]` (round-robin spread of the clients).
 */
export async function clientLoops<S>(
  opts: { total: number; clients: number; servers: readonly S[] },
  op: (index: number, client: number, server: S) => Promise<unknown>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: opts.clients }, async (_, client) => {
      const server = opts.servers[client % opts.servers.length]!;
      for (;;) {
        const index = next++;
        if (index >= opts.total) return;
        await op(index, client, server);
      }
    }),
  );
}

/** Server log lines at pino level error or above (a procedure that failed, a sweep that failed). */
export function errorLines(logFile: string): string[] {
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  return text.split('\n').filter((line) => {
    if (!line.startsWith('{')) return /error/i.test(line);
    try {
      return (JSON.parse(line) as { level?: number }).level! >= 50;
    } catch {
      return false;
    }
  });
}

/** A fixed-width table row. */
export function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => String(c).padStart(widths[i] ?? 8)).join(' ');
}
