import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { killAll, sleep, startServer, stop, type ServerProcess } from '../crash-server.js';
import { createSchema, dropSchema, newSchemaName, schemaUrl } from '../multi-process-harness.js';

/**
 * Issue 11: three processes started at the same instant on an empty database, each migrating,
 * seeding the rules and seeding the demo workspace: all three serve (none exits on a lost
 * race), and the demo accounts exist once.
 */
const PG_URL = process.env.TEST_DATABASE_URL ?? '';
const SERVICE_KEY = 'faults-startup-service-key';

afterAll(() => killAll());

async function threeAtOnce(databaseUrl: string, dir: string): Promise<void> {
  const logs = [0, 1, 2].map((i) => join(dir, `server-${i}.log`));
  const procs: ServerProcess[] = await Promise.all(
    logs.map((logFile) =>
      startServer(
        { databaseUrl, serviceKey: SERVICE_KEY, logFile, args: ['--seed-demo'] },
        { timeoutMs: 90_000 },
      ),
    ),
  );
  try {
    // Seeding runs after the port opens: wait for each to say the demo is ready, or to exit.
    const deadline = Date.now() + 60_000;
    const seeded = (i: number) =>
      readFileSync(logs[i]!, 'utf8').includes('Demo workspace "demo" is ready');
    while (Date.now() < deadline && ![0, 1, 2].every(seeded) && procs.every((p) => p.alive()))
      await sleep(100);
    const status = procs.map((p, i) => ({ alive: p.alive(), seeded: seeded(i) }));
    expect(status, logs.map((l) => readFileSync(l, 'utf8').slice(-1500)).join('\n---\n')).toEqual(
      [0, 1, 2].map(() => ({ alive: true, seeded: true })),
    );
    // All three serve, and the demo owner signs in on each.
    for (const p of procs) {
      const res = await fetch(`${p.base}/trpc/auth.signIn`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-credits-csrf': '1' },
        body: JSON.stringify({ email: 'owner@demo.test', password: 'demo-owner-password' }),
      });
      expect(res.status).toBe(200);
    }
  } finally {
    await Promise.all(procs.map((p) => stop(p)));
  }
}

describe('start-up is safe in any number', () => {
  it('three processes at once on an empty SQLite file: all three serve', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'faults-startup-'));
    try {
      await threeAtOnce(`sqlite:${join(dir, 'credits.db')}`, dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it.skipIf(!PG_URL)(
    'three processes at once on an empty PostgreSQL schema: all three serve',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'faults-startup-'));
      const schema = newSchemaName('faults');
      await createSchema(PG_URL, schema);
      try {
        await threeAtOnce(schemaUrl(PG_URL, schema), dir);
      } finally {
        await dropSchema(PG_URL, schema);
        rmSync(dir, { recursive: true, force: true });
      }
    },
    180_000,
  );
});
