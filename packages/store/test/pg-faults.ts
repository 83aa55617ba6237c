import net from 'node:net';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Helpers for PostgreSQL fault tests: a database of the test's own (so terminating backends
 * touches nothing else on the server), a backend killer, and a TCP proxy that can drop the
 * answer to a COMMIT after the server has committed.
 */

/** `base` with another database name. */
export function databaseUrl(base: string, database: string): string {
  const u = new URL(base);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A fresh database named `<prefix>_<hex>`; `drop()` terminates its backends and drops it. */
export async function ownDatabase(
  base: string,
  prefix = 'faults',
): Promise<{ name: string; url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: base });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: databaseUrl(base, name),
    async drop() {
      const a = new pg.Client({ connectionString: base });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

/**
 * Terminate backends of `database` only (never another database's), from a connection to
 * `base` (another database, so the killer never kills itself). Returns how many.
 */
export async function terminateBackends(
  admin: pg.Client,
  database: string,
  opts: { state?: 'idle' | 'active'; limit?: number } = {},
): Promise<number> {
  const r = await admin.query(
    `SELECT pg_terminate_backend(pid) FROM (
       SELECT pid FROM pg_stat_activity
       WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend'
         AND ($2::text IS NULL OR state = $2)
       ORDER BY random() LIMIT $3) p`,
    [database, opts.state ?? null, opts.limit ?? 1000],
  );
  return r.rowCount ?? 0;
}

export async function adminClient(base: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: base });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/**
 * A TCP proxy in front of PostgreSQL. `dropNextCommitAnswer()`: the next time the server
 * answers `COMMIT` (CommandComplete "COMMIT"), the proxy closes both sockets instead of
 * passing the answer on: the transaction is committed and the client never learns it.
 */
export async function commitDroppingProxy(target: { host: string; port: number }): Promise<{
  port: number;
  dropNextCommitAnswer(): void;
  dropped(): number;
  close(): Promise<void>;
}> {
  let armed = false;
  let dropped = 0;
  const sockets = new Set<net.Socket>();
  const COMMIT = Buffer.from('COMMIT\0');
  const server = net.createServer((client) => {
    const upstream = net.connect(target);
    sockets.add(client);
    sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
    client.on('data', (d) => upstream.write(d));
    upstream.on('data', (d) => {
      const at = d.indexOf(COMMIT);
      // CommandComplete: 'C', int32 length, then the tag.
      if (armed && at >= 5 && d[at - 5] === 0x43) {
        armed = false;
        dropped += 1;
        end();
        return;
      }
      client.write(d);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    dropNextCommitAnswer: () => void (armed = true),
    dropped: () => dropped,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
