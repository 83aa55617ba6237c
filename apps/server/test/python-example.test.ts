import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { parseEnv } from '../src/env.js';
import { startServer, type RunningServer } from '../src/server.js';

const repo = resolve(import.meta.dirname, '../../..');
const example = join(repo, 'examples/python_worker.py');
const python = spawnSync('python3', ['--version'], { encoding: 'utf8' });
const hasPython = python.status === 0;
if (!hasPython) console.log('SKIPPED the Python worker example: python3 is not installed');

describe('the README’s Python worker (examples/python_worker.py)', () => {
  it('is the code the README shows', () => {
    const readme = readFileSync(join(repo, 'README.md'), 'utf8');
    expect(readme).toContain(readFileSync(example, 'utf8').trim());
  });

  describe.skipIf(!hasPython)('against a started server', () => {
    const key = `example-key-${randomUUID()}`;
    const dir = mkdtempSync(join(tmpdir(), 'credits-python-'));
    let server: RunningServer;
    let url: string;

    const trpc = async (path: string, input: unknown) => {
      const res = await fetch(`${url}/trpc/${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(input),
      });
      expect(res.status).toBe(200);
      return ((await res.json()) as { result: { data: unknown } }).result.data;
    };

    beforeAll(async () => {
      server = await startServer(
        parseEnv({
          DATABASE_URL: `sqlite:${join(dir, 'credits.db')}`,
          PORT: '0',
          HOST: '127.0.0.1',
          CREDITS_SERVICE_KEY: key,
          NODE_ENV: 'test',
        }),
        { logger: pino({ level: 'silent' }) },
      );
      url = `http://127.0.0.1:${server.port}`;
    });
    afterAll(async () => {
      await server?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('reserves and captures through the HTTP API', async () => {
      const { workspace } = (await trpc('admin.workspaces.create', {
        name: 'Python studio',
        plan: 'pro',
        idempotencyKey: randomUUID(),
      })) as { workspace: { id: string } };
      await trpc('admin.ledger.grant', {
        workspaceId: workspace.id,
        wallet: 'image_credits',
        amount: 100,
        reason: 'Example',
        idempotencyKey: randomUUID(),
      });
      const run = await promisify(execFile)('python3', [example], {
        env: {
          ...process.env,
          CREDITS_URL: url,
          CREDITS_KEY: key,
          CREDITS_WORKSPACE: workspace.id,
        },
        timeout: 30_000,
      });
      expect(run.stderr).toBe('');
      const lines = run.stdout.trim().split('\n');
      expect(lines[0]).toMatch(/^reserved \d+ credits, hold \S+$/);
      expect(lines[1]).toMatch(/^captured \d+, returned \d+, balance \d+$/);
      const holdId = /hold (\S+)$/.exec(lines[0]!)![1]!;
      const jobs = (await trpc('usage.jobs', { workspaceId: workspace.id })) as {
        items: { id: string; status: string; held: number; captured: number }[];
      };
      const job = jobs.items.find((j) => j.id === holdId)!;
      expect(job.status).toBe('completed');
      expect(job.captured).toBeGreaterThan(0);
      expect(job.captured).toBeLessThan(job.held); // one image of two: the rest returned
    });
  });
});
