import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import {
  killAll,
  mutate,
  query,
  runVerifyCli,
  startServer,
  stop,
  type CallOutcome,
  type ServerProcess,
} from '../crash-server.js';

/**
 * Issue 11: the disk under a SQLite store fills up. The server runs on a file in a small tmpfs
 * of the test's own; a filler file takes the rest of the space. Then: every charge is refused
 * fast with STORAGE_FULL (never a 500, never a partial write), reads and /healthz answer;
 * once the filler is deleted the refused keys go through once each, every acknowledged key
 * replays its first answer, the balance is exact and `verify` is clean.
 *
 * Mounting needs root; where the mount is refused the test prints a SKIPPED line.
 */
const SERVICE_KEY = 'faults-disk-full-service-key-0123';
const WS = 'ws_disk_full';
const GRANT = 1_000_000;
const JOB = { kind: 'image', type: 'hero', count: 1 } as const;

const outside = mkdtempSync(join(tmpdir(), 'faults-disk-full-'));
const mountPoint = join(outside, 'disk');
let mounted = false;
let skipReason = '';
try {
  execFileSync('mkdir', ['-p', mountPoint]);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mountPoint], {
    stdio: 'pipe',
  });
  mounted = true;
} catch (e) {
  skipReason = String((e as { stderr?: Buffer }).stderr ?? e).trim();
  console.log(`SKIPPED faults/disk-full: cannot mount a tmpfs here (${skipReason})`);
}

afterAll(() => {
  killAll();
  if (mounted) execFileSync('umount', ['-l', mountPoint]);
  rmSync(outside, { recursive: true, force: true });
});

/** Fill the file system with one file until ENOSPC (64 KiB writes, then 4 KiB); returns its path. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const fd = openSync(path, 'w');
  try {
    for (const size of [64 * 1024, 4096]) {
      const chunk = Buffer.alloc(size, 1);
      try {
        for (;;) writeSync(fd, chunk);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
      }
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

it.skipIf(!mounted)(
  'disk full: writes refused fast with STORAGE_FULL, reads and health answer, writes resume, nothing acknowledged lost',
  { timeout: 120_000 },
  async () => {
    const server: ServerProcess = await startServer({
      databaseUrl: `sqlite:${join(mountPoint, 'credits.db')}`,
      serviceKey: SERVICE_KEY,
      logFile: join(outside, 'server.log'),
    });
    try {
      const ok = (o: CallOutcome) => expect(o.kind, JSON.stringify(o)).toBe('ok');
      ok(
        await mutate(server.base, SERVICE_KEY, 'admin.workspaces.create', {
          id: WS,
          name: 'Disk full',
          plan: 'pro',
          idempotencyKey: 'disk-full-create',
        }),
      );
      ok(
        await mutate(server.base, SERVICE_KEY, 'admin.ledger.grant', {
          workspaceId: WS,
          wallet: 'image_credits',
          amount: GRANT,
          source: 'purchase',
          reason: 'disk-full test',
          idempotencyKey: 'disk-full-grant',
        }),
      );
      const charge = (k: string) =>
        mutate(server.base, SERVICE_KEY, 'usage.charge', {
          workspaceId: WS,
          job: JOB,
          idempotencyKey: k,
        });
      const first = await charge('before-full');
      ok(first);
      const cost = (first as { data: { credits: number } }).data.credits;
      expect(cost).toBeGreaterThan(0);

      const filler = fill(mountPoint);

      // Charges in bursts until 20 were refused: the WAL may still have room for a few.
      const acked = new Map<string, unknown>([['before-full', first.kind === 'ok' && first.data]]);
      const refused: string[] = [];
      const reasons = new Set<string>();
      let slowest = 0;
      for (let round = 0; round < 200 && refused.length < 20; round++) {
        const keys = Array.from({ length: 8 }, (_, i) => `full-${round}-${i}`);
        const started = Date.now();
        const outs = await Promise.all(keys.map(charge));
        const took = Date.now() - started;
        outs.forEach((o, i) => {
          if (o.kind === 'ok') acked.set(keys[i]!, o.data);
          else {
            expect(o.kind, JSON.stringify(o)).toBe('error');
            const e = (o as { status: number; error: { data?: { reason?: string } } }).error;
            expect((o as { status: number }).status).toBe(503);
            reasons.add(String(e.data?.reason));
            refused.push(keys[i]!);
            slowest = Math.max(slowest, took);
          }
        });
      }
      expect([...reasons]).toEqual(['STORAGE_FULL']);
      expect(refused.length).toBeGreaterThanOrEqual(20);
      expect(slowest).toBeLessThan(5_000);

      // Reads and liveness keep answering while the disk is full.
      const health = await fetch(`${server.base}/healthz`);
      expect(health.status).toBe(200);
      const balance = async () => {
        const wallet = await query<{ balance: number }>(server.base, SERVICE_KEY, 'wallets.get', {
          workspaceId: WS,
          wallet: 'image_credits',
        });
        return wallet.balance;
      };
      expect(await balance()).toBe(GRANT - acked.size * cost);

      // Space comes back: the refused keys apply once each, the acknowledged ones replay.
      unlinkSync(filler);
      for (const k of refused) ok(await charge(k));
      for (const k of refused) ok(await charge(k));
      const replays: string[] = [];
      for (const [k, answer] of acked) {
        const o = await charge(k);
        if (o.kind !== 'ok' || !isDeepStrictEqual(o.data, answer)) replays.push(k);
      }
      expect(replays).toEqual([]);
      expect(await balance()).toBe(GRANT - (acked.size + refused.length) * cost);
      console.log(
        `disk full (tmpfs 24 MiB): ${acked.size} charges acknowledged, ${refused.length} refused with STORAGE_FULL (slowest burst of 8: ${slowest} ms); after freeing space all refused keys applied once, all acknowledged replayed`,
      );
    } finally {
      await stop(server);
    }
    const verified = await runVerifyCli(`sqlite:${join(mountPoint, 'credits.db')}`);
    expect(verified.code, verified.output).toBe(0);
  },
);
