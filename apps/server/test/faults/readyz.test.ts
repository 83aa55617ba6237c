import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { adminClient } from '../../../../packages/store/test/pg-faults.js';
import { writeProbe } from '../../src/readiness.js';
import { killAll, sleep, startServer, stop, type ServerProcess } from '../crash-server.js';
import { createSchema, dropSchema, newSchemaName, schemaUrl } from '../multi-process-harness.js';

/**
 * Issue 11, Build 4: `/readyz` means "the store takes writes". A real server process; another
 * connection holds the write lock (SQLite `BEGIN IMMEDIATE`) or the probe row (PostgreSQL
 * `FOR UPDATE`, then `LOCK TABLE`): `/readyz` answers 503 with a reason within a bounded time
 * while `/healthz` answers at once, and 200 again by itself once the lock is gone.
 */
const PG_URL = process.env.TEST_DATABASE_URL ?? '';
if (!PG_URL) console.log('faults/readyz (PostgreSQL part): SKIPPED — TEST_DATABASE_URL is not set');
const SERVICE_KEY = 'faults-readyz-service-key-0123456789';

/** The server's defaults: the probe's bound and how long an answer is reused. */
const PROBE_TIMEOUT_MS = 1500;
const PROBE_CACHE_MS = 1000;
/** Worst case until /readyz must have noticed: a cached answer, then a probe's bound; plus slack for a loaded box. */
const NOTICE_WITHIN_MS = PROBE_CACHE_MS + PROBE_TIMEOUT_MS + 2500;

afterAll(() => killAll());

interface Answer {
  status: number;
  body: { ready: boolean; reason?: string; code?: string };
  ms: number;
}

async function get(base: string, path: string): Promise<Answer> {
  const t0 = performance.now();
  const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as Answer['body'];
  return { status: res.status, body, ms: performance.now() - t0 };
}

/** Poll /readyz until it answers `status`; the answer and how long it took from `since`. */
async function readyzUntil(
  base: string,
  status: number,
  withinMs: number,
): Promise<Answer & { after: number }> {
  const since = performance.now();
  let last: Answer | null = null;
  while (performance.now() - since < withinMs) {
    last = await get(base, '/readyz');
    if (last.status === status) return { ...last, after: performance.now() - since };
    await sleep(100);
  }
  throw new Error(
    `/readyz did not answer ${status} within ${withinMs} ms; last: ${JSON.stringify(last)}`,
  );
}

/** While the lock is held: 503 with a reason within the bound; /healthz answers at once throughout. */
async function notReadyWhileHeld(server: ServerProcess): Promise<Answer & { after: number }> {
  const down = await readyzUntil(server.base, 503, NOTICE_WITHIN_MS);
  expect(down.body.ready).toBe(false);
  expect(down.body.reason).toMatch(/\S/);
  expect(['WRITE_PROBE_TIMEOUT', 'STORE_UNAVAILABLE']).toContain(down.body.code);
  // Each not-ready answer itself is bounded by the probe's timeout.
  expect(down.ms).toBeLessThan(PROBE_TIMEOUT_MS + 1000);
  for (let i = 0; i < 3; i++) {
    const health = await get(server.base, '/healthz');
    expect(health.status).toBe(200);
    expect(health.ms).toBeLessThan(500);
    const again = await get(server.base, '/readyz');
    expect(again.status).toBe(503);
    expect(again.ms).toBeLessThan(PROBE_TIMEOUT_MS + 1000);
  }
  return down;
}

describe('/readyz: the write probe (in-process, a store that can be made to stall or fail)', () => {
  it('caches an answer, answers not-ready once a probe outlives its bound, a failure with its reason, and recovers', async () => {
    let mode: 'ok' | 'stall' | 'fail' = 'ok';
    let probes = 0;
    const stalled: (() => void)[] = [];
    const store = {
      probeWrite: () => {
        probes++;
        if (mode === 'ok') return Promise.resolve();
        if (mode === 'fail')
          return Promise.reject(
            Object.assign(new Error('disk is full'), { name: 'CreditsError', reason: 'X' }),
          );
        return new Promise<void>((r) => stalled.push(r));
      },
    };
    const check = writeProbe(store, { timeoutMs: 200, cacheMs: 300 });
    expect(await check()).toEqual({ ready: true });
    expect(await check()).toEqual({ ready: true });
    expect(probes).toBe(1); // cached
    await sleep(320);
    mode = 'stall';
    let t0 = performance.now();
    expect(await check()).toMatchObject({ ready: false, code: 'WRITE_PROBE_TIMEOUT' });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    // The same probe still running: not-ready at once, no second probe piles up.
    t0 = performance.now();
    expect(await check()).toMatchObject({ ready: false, code: 'WRITE_PROBE_TIMEOUT' });
    expect(performance.now() - t0).toBeLessThan(50);
    expect(probes).toBe(2);
    // It finishes: ready again (the finished probe's answer).
    stalled.shift()!();
    await sleep(0);
    expect(await check()).toEqual({ ready: true });
    await sleep(320);
    mode = 'fail';
    expect(await check()).toMatchObject({ ready: false, code: 'WRITE_FAILED' });
    await sleep(320);
    mode = 'ok';
    expect(await check()).toEqual({ ready: true });
  });
});

describe('/readyz on a real server process', () => {
  it('SQLite: another connection holding BEGIN IMMEDIATE → 503 within the bound, then 200 after it ends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'faults-readyz-'));
    const file = join(dir, 'credits.db');
    let server: ServerProcess | undefined;
    // sqlite3 is the store package's dependency (not this one's): loaded from there, typed here.
    interface Db {
      exec(sql: string, cb: (err: Error | null) => void): void;
      close(cb: () => void): void;
    }
    const sqlite3 = createRequire(resolve(import.meta.dirname, '../../../../packages/store/'))(
      'sqlite3',
    ) as { Database: new (file: string, cb: (err: Error | null) => void) => Db };
    let db: Db | undefined;
    const exec = (sql: string) =>
      new Promise<void>((ok, fail) => db!.exec(sql, (err) => (err ? fail(err) : ok())));
    try {
      server = await startServer({
        databaseUrl: `sqlite:${file}`,
        serviceKey: SERVICE_KEY,
        logFile: join(dir, 'server.log'),
      });
      expect((await get(server.base, '/readyz')).status).toBe(200);
      db = await new Promise<Db>((ok, fail) => {
        const d: Db = new sqlite3.Database(file, (err) => (err ? fail(err) : ok(d)));
      });
      await exec('BEGIN IMMEDIATE');
      const down = await notReadyWhileHeld(server);
      await exec('ROLLBACK');
      const up = await readyzUntil(server.base, 200, PROBE_TIMEOUT_MS + PROBE_CACHE_MS + 3000);
      expect(up.body).toEqual({ ready: true });
      console.log(
        `faults/readyz SQLite: 503 (${down.body.code}) ${Math.round(down.after)} ms after BEGIN IMMEDIATE; 200 ${Math.round(up.after)} ms after ROLLBACK`,
      );
      expect(server.alive()).toBe(true);
    } finally {
      await new Promise<void>((ok) => (db ? db.close(() => ok()) : ok()));
      if (server) await stop(server);
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it.skipIf(!PG_URL)(
    'PostgreSQL: the probe row held FOR UPDATE, then the table held by LOCK TABLE → 503 within the bound each time, then 200 after each ends',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'faults-readyz-'));
      const schema = newSchemaName('readyz');
      await createSchema(PG_URL, schema);
      let server: ServerProcess | undefined;
      const holder = await adminClient(schemaUrl(PG_URL, schema));
      try {
        server = await startServer({
          databaseUrl: schemaUrl(PG_URL, schema),
          serviceKey: SERVICE_KEY,
          logFile: join(dir, 'server.log'),
        });
        expect((await get(server.base, '/readyz')).status).toBe(200);
        const lines: string[] = [];
        for (const lock of [
          `SELECT id FROM health_probe WHERE id = 'readyz' FOR UPDATE`,
          `LOCK TABLE health_probe IN ACCESS EXCLUSIVE MODE`,
        ]) {
          await holder.query('BEGIN');
          const held = await holder.query(lock);
          if (lock.includes('FOR UPDATE')) expect(held.rowCount).toBe(1);
          const down = await notReadyWhileHeld(server);
          await holder.query('ROLLBACK');
          const up = await readyzUntil(server.base, 200, PROBE_TIMEOUT_MS + PROBE_CACHE_MS + 3000);
          expect(up.body).toEqual({ ready: true });
          lines.push(
            `${lock.split(' ').slice(0, 2).join(' ')}…: 503 (${down.body.code}) ${Math.round(down.after)} ms after the lock; 200 ${Math.round(up.after)} ms after ROLLBACK`,
          );
        }
        console.log(`faults/readyz PostgreSQL:\n  ${lines.join('\n  ')}`);
        expect(server.alive()).toBe(true);
      } finally {
        await holder.end().catch(() => undefined);
        if (server) await stop(server);
        await dropSchema(PG_URL, schema);
        rmSync(dir, { recursive: true, force: true });
      }
    },
    60_000,
  );
});
