import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '@credits/store/testing';
import { findPlan } from '@credits/domain';
import { defaultRuleDocument, validateRuleDocument, type RuleDocument } from '@credits/rules';
import { HOUR, SECOND, errorOf, key, makeApi, type ApiHarness } from './factory.js';

const TRIAL_MESSAGE = 'Free trial includes one 5-second Standard Video at 720p.';
/** A new Pro workspace starts its cycle with the plan's AI Token allowance (SPEC 4). */
const PRO_ALLOWANCE = findPlan('pro')!.aiTokensPerCycle;

const video = (
  durationSec: number,
  over: { type?: 'standard' | 'premium' | 'edit'; resolution?: '480p' | '720p' | '1080p' } = {},
) => ({
  kind: 'video' as const,
  type: over.type ?? 'standard',
  durationSec,
  resolution: over.resolution ?? '720p',
});

/**
 * The default rule set with Standard Video 720p at 20 credits a second instead of 10. The
 * seeded examples that price Standard 720p would fail under it (a document whose examples fail
 * cannot be published), so they are replaced by one example at the new rate.
 */
function doubledStandard720p(): RuleDocument {
  const doc = structuredClone(defaultRuleDocument) as RuleDocument;
  const isStandard720p = (conditions: unknown) => {
    const all = (conditions as { all?: { fact: string; value: unknown }[] }).all ?? [];
    return (
      all.some((c) => c.fact === 'type' && c.value === 'standard') &&
      all.some((c) => c.fact === 'resolution' && c.value === '720p')
    );
  };
  const rate = doc.pricing.video.find(
    (r) => isStandard720p(r.conditions) && r.event.type === 'rate',
  );
  if (!rate) throw new Error('the default document has no Standard 720p rate rule');
  const params = rate.event.params as { perUnit: number };
  expect(params.perUnit).toBe(10);
  params.perUnit = 20;
  doc.examples = [
    ...doc.examples.filter((e) => {
      const job = e.job as { kind: string; type?: string; resolution?: string };
      return !(job.kind === 'video' && job.type === 'standard' && job.resolution === '720p');
    }),
    {
      name: '5 s Standard 720p at the doubled rate',
      job: video(5),
      expect: { credits: 100, trialApplies: true },
    },
  ] as RuleDocument['examples'];
  return doc;
}

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`API on ${dialect.name}`, () => {
    let h: ApiHarness;
    beforeEach(async () => {
      h = await makeApi(dialect);
    });
    afterEach(async () => {
      // Every test leaves SPEC 13's invariants true.
      const report = await h.store.verify();
      expect(report.violations).toEqual([]);
      await h.cleanup();
    });

    const videoWallet = async (ws = h.workspaceId) =>
      h.api.wallets.get({ workspaceId: ws, wallet: 'video_credits' });

    describe('wallets.list', () => {
      it('shows the four wallets in order, with labels, statuses, actions and the video trial', async () => {
        const { wallets, workspaceId } = await h.api.wallets.list({ workspaceId: h.workspaceId });
        expect(workspaceId).toBe(h.workspaceId);
        expect(wallets.map((w) => w.kind)).toEqual([
          'ai_tokens',
          'image_credits',
          'video_credits',
          'audio_credits',
        ]);
        expect(wallets.map((w) => w.label)).toEqual([
          'AI Tokens',
          'Image Credits',
          'Video Credits',
          'Audio Credits',
        ]);
        const [ai, image, vid, audio] = wallets;
        expect(ai).toMatchObject({
          balance: PRO_ALLOWANCE,
          held: 0,
          status: 'active',
          actions: ['view_usage'],
        });
        expect(image).toMatchObject({
          balance: 0,
          held: 0,
          status: 'empty',
          actions: ['buy_image_credits', 'view_usage'],
        });
        // 50 trial credits, above the low threshold of 20: a new trial is not "Low".
        expect(vid).toMatchObject({
          balance: 50,
          held: 0,
          status: 'active',
          actions: ['buy_video_credits', 'view_usage'],
        });
        expect(vid?.trial).toEqual({ remaining: 50, message: TRIAL_MESSAGE });
        expect(audio).toMatchObject({ status: 'coming_soon', actions: [] });
        for (const w of wallets) {
          expect(typeof w.usedFor).toBe('string');
          expect(Number.isInteger(w.lowThreshold)).toBe(true);
        }
        expect(ai?.trial).toBeUndefined();
        expect(image?.trial).toBeUndefined();
      });

      it('moves statuses between empty, low and active as balances change; AI tokens offer an upgrade only when low or empty', async () => {
        // Spend the AI Token allowance down to 5,000 (at or below the 10,000 threshold).
        await h.api.usage.charge({
          workspaceId: h.workspaceId,
          job: { kind: 'ai', tokens: PRO_ALLOWANCE - 5_000 },
          idempotencyKey: key(),
        });
        await h.grant('image_credits', 20);
        await h.grant('video_credits', 100);
        let { wallets } = await h.api.wallets.list({ workspaceId: h.workspaceId });
        expect(wallets.map((w) => [w.kind, w.status, w.actions])).toEqual([
          ['ai_tokens', 'low', ['view_usage', 'upgrade_plan']],
          ['image_credits', 'low', ['buy_image_credits', 'view_usage']],
          ['video_credits', 'active', ['buy_video_credits', 'view_usage']],
          ['audio_credits', 'coming_soon', []],
        ]);
        await h.grant('ai_tokens', 100_000);
        await h.grant('image_credits', 1);
        ({ wallets } = await h.api.wallets.list({ workspaceId: h.workspaceId }));
        expect(wallets.map((w) => [w.kind, w.balance, w.status, w.actions])).toEqual([
          ['ai_tokens', 105_000, 'active', ['view_usage']],
          ['image_credits', 21, 'active', ['buy_image_credits', 'view_usage']],
          ['video_credits', 150, 'active', ['buy_video_credits', 'view_usage']],
          ['audio_credits', 0, 'coming_soon', []],
        ]);
        await h.api.usage.charge({
          workspaceId: h.workspaceId,
          job: { kind: 'ai', tokens: 105_000 },
          idempotencyKey: key(),
        });
        const ai = await h.api.wallets.get({ workspaceId: h.workspaceId, wallet: 'ai_tokens' });
        expect(ai).toMatchObject({
          balance: 0,
          status: 'empty',
          actions: ['view_usage', 'upgrade_plan'],
        });
      });

      it('shows no trial on a plan that is not trial-eligible, and drops the banner once the trial is spent', async () => {
        const business = await h.createWorkspace('business');
        const v = await videoWallet(business);
        expect(v).toMatchObject({ balance: 0, status: 'empty' });
        expect(v.trial).toBeUndefined();

        const hold = await h.api.usage.reserve({
          workspaceId: h.workspaceId,
          job: video(5),
          idempotencyKey: key(),
        });
        expect((await videoWallet()).trial).toBeUndefined();
        await h.api.usage.capture({
          workspaceId: h.workspaceId,
          holdId: hold.holdId,
          idempotencyKey: key(),
        });
        expect(await videoWallet()).toMatchObject({ balance: 0, held: 0, status: 'empty' });
        expect((await videoWallet()).trial).toBeUndefined();
      });

      it("says what each balance buys at today's prices, priced by the active rules", async () => {
        let { wallets } = await h.api.wallets.list({ workspaceId: h.workspaceId });
        const byKind = (k: string) => wallets.find((w) => w.kind === k)!;
        // 50 trial credits: one 5-second Standard video at 720p (50 each); no image credits.
        expect(byKind('video_credits').buys).toEqual({
          job: { kind: 'video', type: 'standard', durationSec: 5, resolution: '720p' },
          each: 50,
          count: 1,
          ruleVersion: 1,
        });
        expect(byKind('image_credits').buys).toMatchObject({ each: 8, count: 0 });
        expect(byKind('ai_tokens').buys).toBeUndefined();
        expect(byKind('audio_credits').buys).toBeUndefined();
        await h.grant('image_credits', 500);
        ({ wallets } = await h.api.wallets.list({ workspaceId: h.workspaceId }));
        expect(byKind('image_credits').buys).toMatchObject({
          job: { kind: 'image', type: 'hero', count: 1, quality: 'standard' },
          each: 8,
          count: 62,
        });
      });

      it('refuses an unknown workspace', async () => {
        const e = await errorOf(h.api.wallets.list({ workspaceId: 'ws_nope' }));
        expect(e).toMatchObject({ code: 'NOT_FOUND', reason: 'WORKSPACE_NOT_FOUND' });
      });
    });

    describe('usage.quote', () => {
      it('prices a 5 s Standard 720p video at 50 credits, payable by the trial, and changes nothing', async () => {
        const before = await h.snapshot();
        const q = await h.api.usage.quote({ workspaceId: h.workspaceId, job: video(5) });
        expect(q).toMatchObject({
          wallet: 'video_credits',
          credits: 50,
          trialApplies: true,
          sufficient: true,
          action: null,
          balance: 50,
          ruleVersion: 1,
        });
        expect(q.breakdown).not.toHaveLength(0);
        expect(await h.snapshot()).toEqual(before);
      });

      it('a 6 s video is no trial job: the trial lot alone cannot pay, and it offers Buy Video Credits', async () => {
        const q = await h.api.usage.quote({ workspaceId: h.workspaceId, job: video(6) });
        expect(q).toMatchObject({
          credits: 60,
          trialApplies: false,
          sufficient: false,
          action: 'buy_video_credits',
          balance: 50,
          usable: 0,
        });
        const e = await errorOf(
          h.api.usage.reserve({ workspaceId: h.workspaceId, job: video(6), idempotencyKey: key() }),
        );
        expect(e).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'INSUFFICIENT_CREDITS' });
        expect(e.details).toMatchObject({ needed: 60, available: 0, action: 'buy_video_credits' });
      });

      it('a 5 s video that costs more than the trial covers (480p is not a trial job) is not paid by the trial', async () => {
        const q = await h.api.usage.quote({
          workspaceId: h.workspaceId,
          job: video(5, { resolution: '480p' }),
        });
        expect(q).toMatchObject({
          credits: 30,
          trialApplies: false,
          sufficient: false,
          action: 'buy_video_credits',
        });
      });

      it('after a purchase a non-trial job spends the purchase and leaves the trial lot whole', async () => {
        await h.grant('video_credits', 100);
        const q = await h.api.usage.quote({ workspaceId: h.workspaceId, job: video(6) });
        expect(q).toMatchObject({ sufficient: true, usable: 100, balance: 150, action: null });
        const hold = await h.api.usage.reserve({
          workspaceId: h.workspaceId,
          job: video(6),
          idempotencyKey: key(),
        });
        expect(hold).toMatchObject({ credits: 60, trialApplies: false, balance: 90, held: 60 });
        expect((await videoWallet()).trial).toEqual({ remaining: 50, message: TRIAL_MESSAGE });
      });

      it('trialApplies means the trial will pay: false once it is used up, false when it covers only part', async () => {
        const ws = h.workspaceId;
        expect(await h.api.usage.quote({ workspaceId: ws, job: video(5) })).toMatchObject({
          trialApplies: true,
          trialCredits: 50,
        });
        // A 4 s trial job leaves 10 trial credits: the next 4 s job (40) is only partly theirs.
        const first = await h.api.usage.reserve({
          workspaceId: ws,
          job: video(4),
          idempotencyKey: key(),
        });
        await h.api.usage.capture({ workspaceId: ws, holdId: first.holdId, idempotencyKey: key() });
        expect(await h.api.usage.quote({ workspaceId: ws, job: video(4) })).toMatchObject({
          credits: 40,
          trialApplies: false,
          trialCredits: 0,
          usable: 10,
          sufficient: false,
        });
        await h.grant('video_credits', 100);
        expect(await h.api.usage.quote({ workspaceId: ws, job: video(4) })).toMatchObject({
          credits: 40,
          trialApplies: false,
          trialCredits: 10,
          sufficient: true,
        });
        // Trial used up: a 5 s Standard 720p video is a trial job by the rules, but the
        // trial pays nothing now.
        const second = await h.api.usage.reserve({
          workspaceId: ws,
          job: video(1),
          idempotencyKey: key(),
        });
        await h.api.usage.capture({
          workspaceId: ws,
          holdId: second.holdId,
          idempotencyKey: key(),
        });
        expect((await videoWallet()).trial).toBeUndefined();
        expect(await h.api.usage.quote({ workspaceId: ws, job: video(5) })).toMatchObject({
          credits: 50,
          trialApplies: false,
          trialCredits: 0,
          sufficient: true,
        });
      });
    });

    describe('jobs that cannot run', () => {
      it('an image job with no image credits fails with Buy Image Credits, never an upgrade prompt', async () => {
        const job = { kind: 'image' as const, type: 'logo' as const, count: 2 };
        const before = await h.snapshot();
        const q = await h.api.usage.quote({ workspaceId: h.workspaceId, job });
        expect(q).toMatchObject({
          wallet: 'image_credits',
          sufficient: false,
          action: 'buy_image_credits',
        });
        const e = await errorOf(
          h.api.usage.reserve({ workspaceId: h.workspaceId, job, idempotencyKey: key() }),
        );
        expect(e).toMatchObject({ code: 'PRECONDITION_FAILED', reason: 'INSUFFICIENT_CREDITS' });
        expect(e.details).toMatchObject({
          needed: q.credits,
          available: 0,
          action: 'buy_image_credits',
        });
        expect(JSON.stringify(e)).not.toContain('upgrade_plan');
        expect(await h.snapshot()).toEqual(before);
      });

      it('audio is Coming Soon: quote, reserve and charge are refused and nothing is charged', async () => {
        const job = { kind: 'audio' as const, type: 'voice' as const, durationSec: 10 };
        const before = await h.snapshot();
        for (const call of [
          () => h.api.usage.quote({ workspaceId: h.workspaceId, job }),
          () => h.api.usage.reserve({ workspaceId: h.workspaceId, job, idempotencyKey: key() }),
          () => h.api.usage.charge({ workspaceId: h.workspaceId, job, idempotencyKey: key() }),
        ]) {
          expect(await errorOf(call)).toMatchObject({
            code: 'PRECONDITION_FAILED',
            reason: 'COMING_SOON',
          });
        }
        expect(await h.snapshot()).toEqual(before);
      });

      it('Video Edit on a plan without the feature is FEATURE_UNAVAILABLE, never a charge', async () => {
        const job = video(5, { type: 'edit' });
        for (const plan of ['free', 'starter'] as const) {
          const ws = await h.createWorkspace(plan);
          await h.grant('video_credits', 1_000, ws);
          const before = await h.snapshot(ws);
          for (const call of [
            () => h.api.usage.quote({ workspaceId: ws, job }),
            () => h.api.usage.reserve({ workspaceId: ws, job, idempotencyKey: key() }),
          ]) {
            expect(await errorOf(call)).toMatchObject({
              code: 'FORBIDDEN',
              reason: 'FEATURE_UNAVAILABLE',
            });
          }
          expect(await h.snapshot(ws)).toEqual(before);
        }
        // Pro has the feature.
        await h.grant('video_credits', 1_000);
        const q = await h.api.usage.quote({ workspaceId: h.workspaceId, job });
        expect(q).toMatchObject({ credits: 40, sufficient: true });
      });
    });

    describe('reserve, capture, release', () => {
      it('capture with the actual (shorter) job charges its price and returns the rest', async () => {
        await h.grant('video_credits', 200);
        const hold = await h.api.usage.reserve({
          workspaceId: h.workspaceId,
          job: video(10),
          idempotencyKey: key(),
        });
        expect(hold).toMatchObject({ credits: 100, balance: 150, held: 100, ruleVersion: 1 });
        expect(await videoWallet()).toMatchObject({ balance: 150, held: 100 });
        const done = await h.api.usage.capture({
          workspaceId: h.workspaceId,
          holdId: hold.holdId,
          actual: video(6),
          idempotencyKey: key(),
        });
        expect(done).toMatchObject({
          status: 'completed',
          captured: 60,
          returned: 40,
          balance: 190,
          held: 0,
        });
        expect(await videoWallet()).toMatchObject({ balance: 190, held: 0 });
      });

      it('capture with an actual job dearer than the hold is capped at the hold', async () => {
        await h.grant('video_credits', 200);
        const hold = await h.api.usage.reserve({
          workspaceId: h.workspaceId,
          job: video(10),
          idempotencyKey: key(),
        });
        const done = await h.api.usage.capture({
          workspaceId: h.workspaceId,
          holdId: hold.holdId,
          actual: video(15),
          idempotencyKey: key(),
        });
        expect(done).toMatchObject({ captured: 100, returned: 0, balance: 150, held: 0 });
      });

      it('capture with an actual job of another kind is refused and the hold stays open', async () => {
        await h.grant('video_credits', 200);
        const hold = await h.api.usage.reserve({
          workspaceId: h.workspaceId,
          job: video(10),
          idempotencyKey: key(),
        });
        const e = await errorOf(
          h.api.usage.capture({
            workspaceId: h.workspaceId,
            holdId: hold.holdId,
            actual: { kind: 'image', type: 'icon', count: 1 },
            idempotencyKey: key(),
          }),
        );
        expect(e).toMatchObject({ code: 'BAD_REQUEST', reason: 'VALIDATION' });
        expect(await videoWallet()).toMatchObject({ balance: 150, held: 100 });
      });

      it('capture above the hold is refused (CAPTURE_EXCEEDS_HOLD) and the hold can still settle', async () => {
        await h.grant('video_credits', 200);
        const hold = await h.api.usage.reserve({
          workspaceId: h.workspaceId,
          job: video(10),
          idempotencyKey: key(),
        });
        const e = await errorOf(
          h.api.usage.capture({
            workspaceId: h.workspaceId,
            holdId: hold.holdId,
            credits: 101,
            idempotencyKey: key(),
          }),
        );
        expect(e).toMatchObject({ code: 'BAD_REQUEST', reason: 'CAPTURE_EXCEEDS_HOLD' });
        expect(await videoWallet()).toMatchObject({ balance: 150, held: 100 });
        const jobs = await h.api.usage.jobs({ workspaceId: h.workspaceId });
        expect(jobs.items[0]).toMatchObject({ id: hold.holdId, status: 'reserved' });
        const done = await h.api.usage.capture({
          workspaceId: h.workspaceId,
          holdId: hold.holdId,
          credits: 100,
          idempotencyKey: key(),
        });
        expect(done).toMatchObject({ captured: 100, returned: 0, balance: 150, held: 0 });
      });

      it('release returns every held credit, back to the lot it came from', async () => {
        const before = await videoWallet();
        const hold = await h.api.usage.reserve({
          workspaceId: h.workspaceId,
          job: video(5),
          idempotencyKey: key(),
        });
        expect(hold).toMatchObject({ credits: 50, trialApplies: true, balance: 0, held: 50 });
        const r = await h.api.usage.release({
          workspaceId: h.workspaceId,
          holdId: hold.holdId,
          idempotencyKey: key(),
        });
        expect(r).toMatchObject({
          status: 'failed',
          captured: 0,
          returned: 50,
          balance: 50,
          held: 0,
        });
        expect(await videoWallet()).toEqual(before);
        // The trial lot got its credits back: the trial still pays for a trial job.
        expect(
          (await h.api.usage.quote({ workspaceId: h.workspaceId, job: video(5) })).sufficient,
        ).toBe(true);
      });

      it('a hold settles once: a second capture, a release after capture, a capture after release are HOLD_SETTLED', async () => {
        await h.grant('video_credits', 200);
        const a = await h.api.usage.reserve({
          workspaceId: h.workspaceId,
          job: video(10),
          idempotencyKey: key(),
        });
        await h.api.usage.capture({
          workspaceId: h.workspaceId,
          holdId: a.holdId,
          idempotencyKey: key(),
        });
        const afterCapture = await h.snapshot();
        for (const call of [
          () =>
            h.api.usage.capture({
              workspaceId: h.workspaceId,
              holdId: a.holdId,
              idempotencyKey: key(),
            }),
          () =>
            h.api.usage.capture({
              workspaceId: h.workspaceId,
              holdId: a.holdId,
              actual: video(3),
              idempotencyKey: key(),
            }),
          () =>
            h.api.usage.release({
              workspaceId: h.workspaceId,
              holdId: a.holdId,
              idempotencyKey: key(),
            }),
        ]) {
          expect(await errorOf(call)).toMatchObject({ code: 'CONFLICT', reason: 'HOLD_SETTLED' });
        }
        expect(await h.snapshot()).toEqual(afterCapture);

        const b = await h.api.usage.reserve({
          workspaceId: h.workspaceId,
          job: video(5),
          idempotencyKey: key(),
        });
        await h.api.usage.release({
          workspaceId: h.workspaceId,
          holdId: b.holdId,
          idempotencyKey: key(),
        });
        expect(
          await errorOf(
            h.api.usage.capture({
              workspaceId: h.workspaceId,
              holdId: b.holdId,
              idempotencyKey: key(),
            }),
          ),
        ).toMatchObject({ code: 'CONFLICT', reason: 'HOLD_SETTLED' });
      });

      it('a hold of another workspace, or one that never existed, is HOLD_NOT_FOUND', async () => {
        const other = await h.createWorkspace();
        const hold = await h.api.usage.reserve({
          workspaceId: h.workspaceId,
          job: video(5),
          idempotencyKey: key(),
        });
        expect(
          await errorOf(
            h.api.usage.capture({ workspaceId: other, holdId: hold.holdId, idempotencyKey: key() }),
          ),
        ).toMatchObject({ code: 'NOT_FOUND', reason: 'HOLD_NOT_FOUND' });
        expect(
          await errorOf(
            h.api.usage.release({
              workspaceId: h.workspaceId,
              holdId: 'hold_nope',
              idempotencyKey: key(),
            }),
          ),
        ).toMatchObject({ code: 'NOT_FOUND', reason: 'HOLD_NOT_FOUND' });
        expect(await videoWallet()).toMatchObject({ balance: 0, held: 50 });
      });

      it('charge debits AI tokens in one step; short of tokens it offers an upgrade', async () => {
        const ws = await h.createWorkspace('business'); // 5,000,000 tokens a cycle
        const allowance = findPlan('business')!.aiTokensPerCycle;
        await h.grant('ai_tokens', 50_000, ws);
        const c = await h.api.usage.charge({
          workspaceId: ws,
          job: { kind: 'ai', tokens: 1_200 },
          idempotencyKey: key(),
        });
        expect(c).toMatchObject({
          wallet: 'ai_tokens',
          credits: 1_200,
          balance: allowance + 48_800,
        });
        const jobs = await h.api.usage.jobs({ workspaceId: ws });
        expect(jobs.items).toHaveLength(1);
        expect(jobs.items[0]).toMatchObject({ id: c.jobId, status: 'completed', captured: 1_200 });
        const needed = allowance + 60_000;
        const before = await h.snapshot(ws);
        const e = await errorOf(
          h.api.usage.charge({
            workspaceId: ws,
            job: { kind: 'ai', tokens: needed },
            idempotencyKey: key(),
          }),
        );
        expect(e).toMatchObject({ reason: 'INSUFFICIENT_CREDITS' });
        expect(e.details).toMatchObject({
          needed,
          available: allowance + 48_800,
          action: 'upgrade_plan',
        });
        expect(await h.snapshot(ws)).toEqual(before);
      });
    });

    describe('idempotency', () => {
      it('the same key and input replays the first answer with one effect', async () => {
        await h.grant('video_credits', 200);
        const input = { workspaceId: h.workspaceId, job: video(10), idempotencyKey: key() };
        const first = await h.api.usage.reserve(input);
        h.clock.advance(5 * SECOND);
        const again = await h.api.usage.reserve({ ...input, job: { ...input.job } });
        expect(again).toEqual(first);
        expect(await videoWallet()).toMatchObject({ balance: 150, held: 100 });
        const holds = await h.api.usage.history({ workspaceId: h.workspaceId, types: ['hold'] });
        expect(holds.items).toHaveLength(1);
        expect((await h.api.usage.jobs({ workspaceId: h.workspaceId })).items).toHaveLength(1);

        const captureInput = {
          workspaceId: h.workspaceId,
          holdId: first.holdId,
          actual: video(4),
          idempotencyKey: key(),
        };
        const c1 = await h.api.usage.capture(captureInput);
        const c2 = await h.api.usage.capture(captureInput);
        expect(c2).toEqual(c1);
        expect(await videoWallet()).toMatchObject({ balance: 210, held: 0 });
      });

      it('20 concurrent calls with one key take effect once and all get the same answer', async () => {
        await h.grant('video_credits', 1_000);
        const input = { workspaceId: h.workspaceId, job: video(10), idempotencyKey: key() };
        const answers = await Promise.all(
          Array.from({ length: 20 }, () => h.api.usage.reserve(input)),
        );
        for (const a of answers) expect(a).toEqual(answers[0]);
        expect(await videoWallet()).toMatchObject({ balance: 950, held: 100 });
      });

      it('the same key with another input is IDEMPOTENCY_CONFLICT and changes nothing', async () => {
        await h.grant('video_credits', 200);
        const k = key();
        await h.api.usage.reserve({
          workspaceId: h.workspaceId,
          job: video(10),
          idempotencyKey: k,
        });
        const before = await h.snapshot();
        const e = await errorOf(
          h.api.usage.reserve({ workspaceId: h.workspaceId, job: video(9), idempotencyKey: k }),
        );
        expect(e).toMatchObject({ code: 'CONFLICT', reason: 'IDEMPOTENCY_CONFLICT' });
        const g = await errorOf(
          h.api.admin.ledger.grant({
            workspaceId: h.workspaceId,
            wallet: 'video_credits',
            amount: 5,
            reason: 'x',
            idempotencyKey: k,
          }),
        );
        expect(g).toMatchObject({ code: 'CONFLICT', reason: 'IDEMPOTENCY_CONFLICT' });
        expect(await h.snapshot()).toEqual(before);
      });

      it('keys are scoped to their workspace', async () => {
        const other = await h.createWorkspace();
        const k = key();
        const a = await h.api.usage.reserve({
          workspaceId: h.workspaceId,
          job: video(5),
          idempotencyKey: k,
        });
        const b = await h.api.usage.reserve({
          workspaceId: other,
          job: video(5),
          idempotencyKey: k,
        });
        expect(b.holdId).not.toBe(a.holdId);
        expect(await videoWallet(other)).toMatchObject({ balance: 0, held: 50 });
      });
    });

    describe('history and jobs', () => {
      it('history lists entries newest first with signed amounts and the balance after each', async () => {
        await h.grant('video_credits', 100);
        h.clock.advance(SECOND);
        const hold = await h.api.usage.reserve({
          workspaceId: h.workspaceId,
          job: video(8),
          idempotencyKey: key(),
        });
        h.clock.advance(SECOND);
        await h.api.usage.capture({
          workspaceId: h.workspaceId,
          holdId: hold.holdId,
          actual: video(5),
          idempotencyKey: key(),
        });
        const page = await h.api.usage.history({
          workspaceId: h.workspaceId,
          wallet: 'video_credits',
        });
        expect(page.items.map((e) => [e.wallet, e.type, e.amount, e.balanceAfter])).toEqual([
          ['video_credits', 'return', 30, 100],
          ['video_credits', 'spend', -50, 70],
          ['video_credits', 'hold', -80, 70],
          ['video_credits', 'purchase', 100, 150],
          ['video_credits', 'trial', 50, 50],
        ]);
        const jobEntries = page.items.filter((e) => e.jobId !== null);
        expect(new Set(jobEntries.map((e) => e.jobId))).toEqual(new Set([hold.holdId]));
        expect(jobEntries.every((e) => e.ruleVersion === 1)).toBe(true);
        expect(page.items.map((e) => e.createdAt)).toEqual(
          [...page.items.map((e) => e.createdAt)].sort((a, b) => b - a),
        );

        // Filters and cursor pages.
        const typed = await h.api.usage.history({
          workspaceId: h.workspaceId,
          types: ['hold', 'spend', 'return'],
        });
        expect(typed.items.map((e) => e.type)).toEqual(['return', 'spend', 'hold']);
        const first = await h.api.usage.history({
          workspaceId: h.workspaceId,
          wallet: 'video_credits',
          limit: 2,
        });
        expect(first.nextCursor).not.toBeNull();
        const rest = await h.api.usage.history({
          workspaceId: h.workspaceId,
          wallet: 'video_credits',
          limit: 10,
          cursor: first.nextCursor!,
        });
        expect([...first.items, ...rest.items].map((e) => e.id)).toEqual(
          page.items.map((e) => e.id),
        );
        expect(rest.nextCursor).toBeNull();
        // Other wallets' entries are in the unfiltered history, not in the video one.
        await h.grant('image_credits', 10);
        const all = await h.api.usage.history({ workspaceId: h.workspaceId });
        expect(all.items[0]).toMatchObject({
          wallet: 'image_credits',
          type: 'purchase',
          amount: 10,
        });
        expect(all.items.filter((e) => e.wallet === 'video_credits').map((e) => e.id)).toEqual(
          page.items.map((e) => e.id),
        );
        const videoOnly = await h.api.usage.history({
          workspaceId: h.workspaceId,
          wallet: 'video_credits',
        });
        expect(videoOnly.items.map((e) => e.id)).toEqual(page.items.map((e) => e.id));
      });

      it('jobs show reserved, completed, failed and expired', async () => {
        await h.grant('video_credits', 1_000);
        const reserve = (durationSec: number, ttlSec?: number) => {
          h.clock.advance(SECOND);
          return h.api.usage.reserve({
            workspaceId: h.workspaceId,
            job: video(durationSec),
            idempotencyKey: key(),
            ttlSec,
          });
        };
        const completed = await reserve(10);
        const failed = await reserve(10);
        const open = await reserve(10);
        const expiring = await reserve(10, 60);
        await h.api.usage.capture({
          workspaceId: h.workspaceId,
          holdId: completed.holdId,
          actual: video(7),
          idempotencyKey: key(),
        });
        await h.api.usage.release({
          workspaceId: h.workspaceId,
          holdId: failed.holdId,
          idempotencyKey: key(),
        });
        expect(await videoWallet()).toMatchObject({ held: 200 });

        h.clock.advance(2 * 60 * SECOND);
        // Past its TTL the hold can no longer be captured, even before the sweeper runs.
        expect(
          await errorOf(
            h.api.usage.capture({
              workspaceId: h.workspaceId,
              holdId: expiring.holdId,
              idempotencyKey: key(),
            }),
          ),
        ).toMatchObject({ reason: 'HOLD_SETTLED' });
        expect(await h.store.expireHolds({ now: h.clock.now() })).toBe(1);
        expect(await h.store.expireHolds({ now: h.clock.now() })).toBe(0);

        const jobs = await h.api.usage.jobs({ workspaceId: h.workspaceId });
        const byId = new Map(jobs.items.map((j) => [j.id, j]));
        expect(byId.get(completed.holdId)).toMatchObject({
          status: 'completed',
          held: 100,
          captured: 70,
        });
        expect(byId.get(failed.holdId)).toMatchObject({ status: 'failed', held: 100, captured: 0 });
        expect(byId.get(open.holdId)).toMatchObject({
          status: 'reserved',
          held: 100,
          captured: null,
        });
        expect(byId.get(expiring.holdId)).toMatchObject({
          status: 'expired',
          held: 100,
          captured: 0,
        });
        // Newest first.
        expect(jobs.items.map((j) => j.id)).toEqual([
          expiring.holdId,
          open.holdId,
          failed.holdId,
          completed.holdId,
        ]);
        expect(
          (await h.api.usage.jobs({ workspaceId: h.workspaceId, status: 'expired' })).items.map(
            (j) => j.id,
          ),
        ).toEqual([expiring.holdId]);
        // 50 trial + 1,000 purchased − 70 spent − 100 still held.
        expect(await videoWallet()).toMatchObject({ balance: 880, held: 100 });
        const returns = await h.api.usage.history({
          workspaceId: h.workspaceId,
          types: ['return'],
        });
        expect(returns.items[0]).toMatchObject({ jobId: expiring.holdId, amount: 100 });

        // The open hold also expires once its own (default one-hour) TTL has passed.
        h.clock.advance(HOUR);
        expect(await h.store.expireHolds({ now: h.clock.now() })).toBe(1);
        expect(await videoWallet()).toMatchObject({ balance: 980, held: 0 });
      });
    });

    describe('rule changes', () => {
      it('a hold keeps the price of the rule version that priced it', async () => {
        await h.grant('video_credits', 500);
        const hold = await h.api.usage.reserve({
          workspaceId: h.workspaceId,
          job: video(10),
          idempotencyKey: key(),
        });
        expect(hold).toMatchObject({ credits: 100, ruleVersion: 1 });

        const doc = doubledStandard720p();
        const valid = validateRuleDocument(doc);
        expect(valid.ok ? [] : valid.errors).toEqual([]);
        h.clock.advance(SECOND);
        const published = await h.store.publishRules({
          document: doc,
          createdBy: 'test',
          reason: 'Double Standard 720p',
          now: h.clock.now(),
        });
        h.rules.activate(published.version, published.document);
        expect(published.version).toBe(2);

        // New quotes use the new version…
        const q = await h.api.usage.quote({ workspaceId: h.workspaceId, job: video(10) });
        expect(q).toMatchObject({ credits: 200, ruleVersion: 2 });
        // …the old hold is settled at the old one: 7 s at 10/s, not 7 s at 20/s (capped at 100).
        const done = await h.api.usage.capture({
          workspaceId: h.workspaceId,
          holdId: hold.holdId,
          actual: video(7),
          idempotencyKey: key(),
        });
        expect(done).toMatchObject({ captured: 70, returned: 30 });
        const spend = (await h.api.usage.history({ workspaceId: h.workspaceId, types: ['spend'] }))
          .items[0];
        expect(spend).toMatchObject({ amount: -70, ruleVersion: 1 });
        // A new hold is priced under version 2.
        const next = await h.api.usage.reserve({
          workspaceId: h.workspaceId,
          job: video(10),
          idempotencyKey: key(),
        });
        expect(next).toMatchObject({ credits: 200, ruleVersion: 2 });
      });
    });
  });
}
