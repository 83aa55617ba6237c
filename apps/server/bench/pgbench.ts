/**
 * `pgbench -N` as the PostgreSQL yardstick of `pnpm bench`: what the same database on the same
 * machine does with 64 clients (by default) running pgbench's "simple update" transaction
 * (five statements: three writes, one read, BEGIN/END). The PostgreSQL charge is printed as a
 * ratio to it, so a reader sees how much of the database's own capacity a charge reaches.
 *
 * It runs on a scratch database of its own (created, initialised with `pgbench -i`, dropped at
 * the end, also on failure), never on the product's schema. Skipped with a reason when
 * `pgbench` or `psql` is not installed.
 */
import { spawn, spawnSync } from 'node:child_process';

export interface PgbenchRun {
  /** Transactions per second, pgbench's figure "without initial connection time". */
  tps: number;
  latencyAvgMs: number;
  clients: number;
  seconds: number;
}

function commandExists(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

/** `url` with another database name (the same host, port, user and password). */
function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${cmd} ${args[0] ?? ''} exited ${code}: ${out.trim().slice(-400)}`));
    });
  });
}

/** A scratch database for pgbench; `drop()` is synchronous so it can run from an exit hook. */
export interface PgbenchDatabase {
  /** One measured run of `pgbench -N`. */
  measure(input: { clients: number; seconds: number }): Promise<PgbenchRun>;
  drop(): void;
}

/**
 * Create and initialise the scratch database `name` on the server of `adminUrl`, or answer why
 * not (a string) when the tools are missing.
 */
export async function preparePgbench(input: {
  adminUrl: string;
  name: string;
}): Promise<PgbenchDatabase | string> {
  if (!commandExists('pgbench')) return 'pgbench is not installed';
  if (!commandExists('psql')) return 'psql is not installed (needed to create the database)';
  if (!/^[a-z_][a-z0-9_]*$/.test(input.name)) throw new Error(`bad database name ${input.name}`);
  const url = withDatabase(input.adminUrl, input.name);
  const psql = (sql: string) => run('psql', [input.adminUrl, '-qAtc', sql], 30_000);
  let dropped = false;
  const drop = () => {
    if (dropped) return;
    dropped = true;
    spawnSync('psql', [input.adminUrl, '-qAtc', `DROP DATABASE IF EXISTS ${input.name}`], {
      stdio: 'ignore',
      timeout: 30_000,
    });
  };
  await psql(`DROP DATABASE IF EXISTS ${input.name}`);
  await psql(`CREATE DATABASE ${input.name}`);
  try {
    // Scale 1: 100,000 accounts; -N never touches the branch and teller rows it would contend on.
    await run('pgbench', ['-i', '-q', '-s', '1', url], 120_000);
  } catch (err) {
    drop();
    throw err;
  }
  return {
    drop,
    async measure({ clients, seconds }) {
      const out = await run(
        'pgbench',
        [
          '-N',
          '-n',
          '-c',
          String(clients),
          '-j',
          '2',
          '-T',
          String(Math.max(1, Math.round(seconds))),
          url,
        ],
        (seconds + 60) * 1000,
      );
      const tps = /tps = ([\d.]+)/.exec(out);
      const latency = /latency average = ([\d.]+) ms/.exec(out);
      if (!tps) throw new Error(`pgbench printed no tps: ${out.trim().slice(-400)}`);
      return {
        tps: Number(tps[1]),
        latencyAvgMs: latency ? Number(latency[1]) : Number.NaN,
        clients,
        seconds,
      };
    },
  };
}
