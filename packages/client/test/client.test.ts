import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import {
  createCreditsClient,
  reasonOf,
  refundFailedJob,
  runWithCredits,
  type CreditsClient,
} from '../src/index.js';
// The server app is the client's counterpart; its test harness serves it without a port.
import { DIALECTS, listen, makeTestApp, type TestApp } from '../../../apps/server/test/test-app.js';

const video = (durationSec: number) => ({
  kind: 'video' as const,
  type: 'standard' as const,
  durationSec,
  resolution: '720p' as const,
});
const key = () => `run-${randomUUID()}`;

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`client on ${dialect.name}`, () => {
    let t: TestApp;
    let client: CreditsClient;
    let workspaceId: string;

    const videoWallet = async () =>
      client.wallets.get.query({ workspaceId, wallet: 'video_credits' });
    const jobStatus = async (holdId: string) =>
      (await client.usage.jobs.query({ workspaceId, limit: 200 })).items.find(
        (j) => j.id === holdId,
      )?.status;

    beforeEach(async () => {
      t = await makeTestApp({ dialect });
      client = createCreditsClient({
        url: 'http://credits.test',
        apiKey: t.serviceKey,
        fetch: t.fetch,
      });
      const created = await client.admin.workspaces.create.mutate({
        name: 'Client test',
        plan: 'pro',
        idempotencyKey: key(),
      });
      workspaceId = created.workspace.id;
      await client.admin.ledger.grant.mutate({
        workspaceId,
        wallet: 'video_credits',
        amount: 1_000,
        reason: 'Test',
        idempotencyKey: key(),
      });
    });
    afterEach(async () => {
      const report = await t.store.verify();
      expect(report.violations).toEqual([]);
      await t.cleanup();
    });

    it('captures on success: the balance drops by the price and nothing stays held', async () => {
      const before = await videoWallet();
      const { credits } = await client.usage.quote.query({ workspaceId, job: video(10) });
      expect(credits).toBe(100);
      let heldDuringWork = -1;
      const out = await runWithCredits(
        client,
        { workspaceId, job: video(10), idempotencyKey: key() },
        async (hold) => {
          expect(hold.credits).toBe(100);
          heldDuringWork = (await videoWallet()).held;
          return { value: 'rendered' };
        },
      );
      expect(heldDuringWork).toBe(100);
      expect(out.value).toBe('rendered');
      expect(out.settled).toMatchObject({ status: 'completed', captured: 100, returned: 0 });
      expect(await videoWallet()).toMatchObject({ balance: before.balance - 100, held: 0 });
      expect(await jobStatus(out.hold.holdId)).toBe('completed');
    });

    it('releases when the work throws: the error is re-thrown, the balance restored, the job failed', async () => {
      const before = await videoWallet();
      const boom = new Error('renderer crashed');
      let holdId = '';
      await expect(
        runWithCredits(
          client,
          { workspaceId, job: video(10), idempotencyKey: key() },
          async (hold) => {
            holdId = hold.holdId;
            throw boom;
          },
        ),
      ).rejects.toBe(boom);
      expect(holdId).not.toBe('');
      expect(await videoWallet()).toEqual(before);
      expect((await videoWallet()).held).toBe(0);
      expect(await jobStatus(holdId)).toBe('failed');
    });

    it('captures the actual (shorter) job and returns the rest', async () => {
      const before = await videoWallet();
      const out = await runWithCredits(
        client,
        { workspaceId, job: video(10), idempotencyKey: key() },
        async () => ({
          value: 'cut short',
          actual: video(6),
        }),
      );
      expect(out.settled).toMatchObject({ captured: 60, returned: 40 });
      expect(await videoWallet()).toMatchObject({ balance: before.balance - 60, held: 0 });
    });

    it('a capture that fails after the work ran releases the hold instead of leaving it', async () => {
      const before = await videoWallet();
      let holdId = '';
      const error = await runWithCredits(
        client,
        { workspaceId, job: video(10), idempotencyKey: key() },
        async (hold) => {
          holdId = hold.holdId;
          // An actual job of another kind cannot settle a video hold.
          return {
            value: 'x',
            actual: { kind: 'image' as const, type: 'icon' as const, count: 1 },
          };
        },
      ).catch((e: unknown) => e);
      expect(reasonOf(error)).toBe('VALIDATION');
      expect(await videoWallet()).toEqual(before);
      expect(await jobStatus(holdId)).toBe('failed');
    });

    it('20 concurrent runs, some failing, leave nothing held and the ledger consistent', async () => {
      // 20 jobs of 60..100 credits hold 1,600 at most: make sure all can reserve at once.
      await client.admin.ledger.grant.mutate({
        workspaceId,
        wallet: 'video_credits',
        amount: 1_000,
        reason: 'Top-up',
        idempotencyKey: key(),
      });
      const before = await videoWallet();
      const runs = Array.from({ length: 20 }, (_, i) => {
        const seconds = 6 + (i % 5); // 60..100 credits, never a trial job
        const fails = i % 3 === 0;
        return runWithCredits(
          client,
          { workspaceId, job: video(seconds), idempotencyKey: key() },
          async () => {
            await new Promise((r) => setTimeout(r, (i * 7) % 20));
            if (fails) throw new Error(`job ${i} failed`);
            return { value: seconds * 10 };
          },
        );
      });
      const results = await Promise.allSettled(runs);
      const spent = results.reduce(
        (s, r) => (r.status === 'fulfilled' ? s + r.value.settled.captured : s),
        0,
      );
      const failures = results.flatMap((r) =>
        r.status === 'rejected' ? [(r.reason as Error).message] : [],
      );
      // Exactly the jobs whose work threw failed, each with its own error re-thrown.
      expect(failures.sort()).toEqual(
        [0, 3, 6, 9, 12, 15, 18].map((i) => `job ${i} failed`).sort(),
      );
      expect(spent).toBe(
        Array.from({ length: 20 }, (_, i) => i)
          .filter((i) => i % 3 !== 0)
          .reduce((s, i) => s + (6 + (i % 5)) * 10, 0),
      );
      expect(await videoWallet()).toMatchObject({ balance: before.balance - spent, held: 0 });
      const jobs = (await client.usage.jobs.query({ workspaceId, limit: 200 })).items;
      expect(jobs.filter((j) => j.status === 'reserved')).toEqual([]);
      expect(jobs.filter((j) => j.status === 'failed')).toHaveLength(7);
      expect(jobs.filter((j) => j.status === 'completed')).toHaveLength(13);
    });

    it('reasonOf gives INSUFFICIENT_CREDITS when the wallet cannot pay, and the work never runs', async () => {
      let ran = false;
      const error = await runWithCredits(
        client,
        { workspaceId, job: { kind: 'image', type: 'logo', count: 5 }, idempotencyKey: key() },
        async () => {
          ran = true;
          return { value: null };
        },
      ).catch((e: unknown) => e);
      expect(ran).toBe(false);
      expect(reasonOf(error)).toBe('INSUFFICIENT_CREDITS');
      expect(reasonOf(new Error('plain'))).toBeNull();
      expect(reasonOf('nope')).toBeNull();
    });

    it('refundFailedJob: the job failed after it finished; a retry refunds once, never above the cost', async () => {
      const before = await videoWallet();
      const { hold } = await runWithCredits(
        client,
        { workspaceId, job: video(10), idempotencyKey: 'render-7' },
        async () => ({ value: 'done' }),
      );
      const input = {
        workspaceId,
        jobId: hold.holdId,
        reason: 'Render came out black',
        idempotencyKey: 'render-7',
      };
      const first = await refundFailedJob(client, { ...input, credits: 40 });
      expect(first).toMatchObject({ refunded: 40, cost: 100, totalRefunded: 40 });
      expect(await refundFailedJob(client, { ...input, credits: 40 })).toEqual(first);
      const rest = await refundFailedJob(client, { ...input, idempotencyKey: 'render-7b' });
      expect(rest).toMatchObject({ refunded: 60, totalRefunded: 100 });
      expect((await videoWallet()).balance).toBe(before.balance);
      try {
        await refundFailedJob(client, { ...input, idempotencyKey: 'render-7c', credits: 1 });
        expect.unreachable();
      } catch (e) {
        expect(reasonOf(e)).toBe('REFUND_EXCEEDS_COST');
      }
      const history = await client.usage.history.query({
        workspaceId,
        types: ['refund'],
        limit: 10,
      });
      expect(history.items.map((e) => [e.amount, e.jobId])).toEqual([
        [60, hold.holdId],
        [40, hold.holdId],
      ]);
    });

    it('a wrong API key is UNAUTHORIZED', async () => {
      const stranger = createCreditsClient({
        url: 'http://credits.test',
        apiKey: 'wrong-key',
        fetch: t.fetch,
      });
      const error = await stranger.wallets.list.query({ workspaceId }).catch((e: unknown) => e);
      expect(reasonOf(error)).toBe('UNAUTHORIZED');
    });

    it('works over a real socket too (server on port 0)', async () => {
      const server = await listen(t.app);
      try {
        const real = createCreditsClient({ url: server.url, apiKey: t.serviceKey, batch: false });
        const before = await videoWallet();
        const out = await runWithCredits(
          real,
          { workspaceId, job: video(7), idempotencyKey: key() },
          async () => ({ value: 1 }),
        );
        expect(out.settled.captured).toBe(70);
        expect(await videoWallet()).toMatchObject({ balance: before.balance - 70, held: 0 });
      } finally {
        await server.close();
      }
    });
  });
}
