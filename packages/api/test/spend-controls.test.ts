import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS } from '@credits/store/testing';
import { createCaller, hashPassword, type Caller, type PaymentGateway } from '../src/index.js';
import { HOUR, T0, errorOf, key, makeApi, type ApiHarness } from './factory.js';
import { historyCsvStream, type HistoryFilter } from '../src/history-csv.js';
import type { Store } from '@credits/store';

/** The CSV export of `filter` (with its resolved actor), read whole. */
async function csvText(store: Store, filter: HistoryFilter, actor?: string): Promise<string> {
  let out = '';
  for await (const chunk of historyCsvStream({ store, filter, actor })) out += String(chunk);
  return out;
}

const video5s = { kind: 'video', type: 'standard', durationSec: 5, resolution: '720p' } as const;

/** A provider that makes sessions and setup pages, and nothing else (payments have their own tests). */
const GATEWAY: PaymentGateway = {
  provider: 'sandbox',
  async createSession({ order }) {
    return { session: `cs_${order.id}`, url: `https://pay.example.test/${order.id}` };
  },
  async createSetupSession({ workspaceId }) {
    return {
      session: `setup_${workspaceId}`,
      url: `https://pay.example.test/setup/${workspaceId}`,
    };
  },
};

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`spend controls API on ${dialect.name}`, () => {
    let h: ApiHarness;
    let owner: ReturnType<typeof createCaller>;
    let member: ReturnType<typeof createCaller>;
    let users: { owner: string; member: string };

    beforeEach(async () => {
      h = await makeApi(dialect);
      h.ctx.payments = GATEWAY;
      const passwordHash = await hashPassword('correct horse battery staple');
      const user = async (label: string, role: 'owner' | 'member') => {
        const u = await h.store.accounts.createUser({
          email: `${label}-${key()}@example.com`,
          name: label,
          passwordHash,
          isAdmin: false,
          now: T0,
        });
        await h.store.accounts.addMember({
          workspaceId: h.workspaceId,
          userId: u.id,
          role,
          now: T0,
          audit: { actor: 'test', action: 'workspace.member.add', target: '' },
        });
        return u;
      };
      const o = await user('Olive Owner', 'owner');
      const m = await user('Mo Member', 'member');
      users = { owner: o.id, member: m.id };
      const caller = (u: { id: string; email: string }): Caller => ({
        kind: 'user',
        id: `user:${u.id}`,
        userId: u.id,
        email: u.email,
        isAdmin: false,
        sessionTokenHash: null,
      });
      owner = createCaller({ ...h.ctx, caller: caller(o) });
      member = createCaller({ ...h.ctx, caller: caller(m) });
    });
    afterEach(async () => {
      expect((await h.store.verify()).violations).toEqual([]);
      await h.cleanup();
    });

    it('owners set limits for the workspace, a member and a key; members read them with what counts', async () => {
      const ws = h.workspaceId;
      const made = await owner.workspaces.keys.create({ workspaceId: ws, name: 'Render farm' });
      await owner.spending.setLimit({
        workspaceId: ws,
        wallet: 'video_credits',
        scope: 'workspace',
        amount: 500,
        mode: 'hard',
      });
      await owner.spending.setLimit({
        workspaceId: ws,
        wallet: 'video_credits',
        scope: 'member',
        subjectId: users.member,
        amount: 200,
        mode: 'soft',
        thresholds: [100, 75],
      });
      await owner.spending.setLimit({
        workspaceId: ws,
        wallet: 'video_credits',
        scope: 'key',
        subjectId: made.record.id,
        amount: 120,
        mode: 'hard',
      });
      // The member reserves a job (50 of the trial credits): it counts as held for them and the workspace.
      await member.usage.reserve({ workspaceId: ws, job: video5s, idempotencyKey: key() });
      const read = await member.spending.limits({ workspaceId: ws });
      expect(read.cycle).toEqual({
        key: '2026-01-15',
        start: Date.UTC(2026, 0, 15),
        resetsAt: Date.UTC(2026, 1, 15),
      });
      expect(
        read.limits.map((l) => [
          l.scope,
          l.subjectLabel,
          l.amount,
          l.mode,
          l.thresholds,
          l.used,
          l.held,
          l.remaining,
        ]),
      ).toEqual([
        ['workspace', 'Whole workspace', 500, 'hard', [50, 80, 100], 0, 50, 450],
        ['member', 'Mo Member', 200, 'soft', [75, 100], 0, 50, 150],
        ['key', 'Render farm', 120, 'hard', [50, 80, 100], 0, 0, 120],
      ]);
      const audit = await h.store.accounts.auditLog({
        workspaceId: ws,
        action: 'spend_limit.set',
        limit: 10,
      });
      expect(audit.items).toHaveLength(3);
      expect(audit.items.every((a) => a.actor === `user:${users.owner}`)).toBe(true);
    });

    it('a hard limit refuses reserve and charge with the numbers and the action for the caller; quotes say so first', async () => {
      const ws = h.workspaceId;
      await owner.spending.setLimit({
        workspaceId: ws,
        wallet: 'video_credits',
        scope: 'workspace',
        amount: 40,
        mode: 'hard',
      });
      const q = await member.usage.quote({ workspaceId: ws, job: video5s });
      expect(q.sufficient).toBe(true);
      expect(q.spendLimit).toEqual({
        wouldRefuse: true,
        scope: 'workspace',
        subjectId: null,
        limit: 40,
        used: 0,
        held: 0,
        needed: 50,
        resetsAt: Date.UTC(2026, 1, 15),
        action: 'ask_owner',
      });
      expect((await owner.usage.quote({ workspaceId: ws, job: video5s })).spendLimit?.action).toBe(
        'raise_limit',
      );
      const refused = await errorOf(
        member.usage.reserve({ workspaceId: ws, job: video5s, idempotencyKey: key() }),
      );
      expect(refused.code).toBe('PRECONDITION_FAILED');
      expect(refused.reason).toBe('SPEND_LIMIT_REACHED');
      expect(refused.details).toMatchObject({
        wallet: 'video_credits',
        scope: 'workspace',
        limit: 40,
        used: 0,
        held: 0,
        needed: 50,
        resetsAt: Date.UTC(2026, 1, 15),
        action: 'ask_owner',
      });
      const byOwner = await errorOf(
        owner.usage.charge({ workspaceId: ws, job: video5s, idempotencyKey: key() }),
      );
      expect(byOwner.details).toMatchObject({ action: 'raise_limit', needed: 50 });
      expect((await member.wallets.get({ workspaceId: ws, wallet: 'video_credits' })).held).toBe(0);
      // The owner raises it: the same job goes through, and the quote no longer refuses.
      await owner.spending.setLimit({
        workspaceId: ws,
        wallet: 'video_credits',
        scope: 'workspace',
        amount: 100,
        mode: 'hard',
      });
      expect(
        (await member.usage.quote({ workspaceId: ws, job: video5s })).spendLimit,
      ).toMatchObject({
        wouldRefuse: false,
        limit: 100,
        action: null,
      });
      await member.usage.reserve({ workspaceId: ws, job: video5s, idempotencyKey: key() });
      const views = await member.spending.limits({ workspaceId: ws });
      expect(views.limits[0]).toMatchObject({ held: 50, remaining: 50, alerted: [50] });
    });

    it('members cannot set or remove limits; bad subjects and thresholds are refused with a reason', async () => {
      const ws = h.workspaceId;
      const base = {
        workspaceId: ws,
        wallet: 'video_credits' as const,
        amount: 10,
        mode: 'hard' as const,
      };
      expect(
        (await errorOf(member.spending.setLimit({ ...base, scope: 'workspace' }))).reason,
      ).toBe('FORBIDDEN');
      expect(
        (
          await errorOf(
            member.spending.removeLimit({
              workspaceId: ws,
              wallet: 'video_credits',
              scope: 'workspace',
            }),
          )
        ).reason,
      ).toBe('FORBIDDEN');
      const bad = async (input: Parameters<typeof owner.spending.setLimit>[0]) => {
        const e = await errorOf(owner.spending.setLimit(input));
        return [e.reason, e.details?.field ?? e.message.slice(0, 40)];
      };
      expect(await bad({ ...base, scope: 'member', subjectId: 'usr_nobody' })).toEqual([
        'VALIDATION',
        'subjectId',
      ]);
      expect(await bad({ ...base, scope: 'member' })).toEqual(['VALIDATION', 'subjectId']);
      expect(await bad({ ...base, scope: 'key', subjectId: 'key_nope' })).toEqual([
        'VALIDATION',
        'subjectId',
      ]);
      expect(await bad({ ...base, scope: 'workspace', subjectId: users.member })).toEqual([
        'VALIDATION',
        'subjectId',
      ]);
      expect(await bad({ ...base, scope: 'workspace', thresholds: [50, 50] })).toEqual([
        'VALIDATION',
        'thresholds',
      ]);
      expect(
        (await errorOf(owner.spending.setLimit({ ...base, scope: 'workspace', amount: -1 })))
          .reason,
      ).toBe('VALIDATION');
      expect((await member.spending.limits({ workspaceId: ws })).limits).toEqual([]);
      // Removing works for the owner and says whether there was one.
      await owner.spending.setLimit({ ...base, scope: 'workspace' });
      expect(
        await owner.spending.removeLimit({
          workspaceId: ws,
          wallet: 'video_credits',
          scope: 'workspace',
        }),
      ).toEqual({ removed: true });
      expect(
        await owner.spending.removeLimit({
          workspaceId: ws,
          wallet: 'video_credits',
          scope: 'workspace',
        }),
      ).toEqual({ removed: false });
    });

    it('auto top-up: the terms shown are the terms stored, with a saved method; members read, owners edit', async () => {
      const ws = h.workspaceId;
      const settings = {
        workspaceId: ws,
        wallet: 'video_credits' as const,
        packId: 'video-1000',
        threshold: 100,
        monthlyCapCents: 12_000,
      };
      const { terms } = await member.autoTopUp.terms(settings);
      expect(terms).toBe(
        'When your Video Credits balance falls below 100, we will charge your saved payment method $40.00 for ' +
          '1,000 Video Credits, at most $120.00 per billing cycle. Three failed payments in a row turn auto ' +
          'top-up off. You can turn it off at any time on Billing & Usage.',
      );
      expect(
        (await errorOf(member.autoTopUp.enable({ ...settings, acceptedTerms: terms }))).reason,
      ).toBe('FORBIDDEN');
      expect(
        await errorOf(owner.autoTopUp.enable({ ...settings, acceptedTerms: terms })),
      ).toMatchObject({
        reason: 'VALIDATION',
        details: { field: 'paymentMethod' },
      });
      expect(await owner.autoTopUp.setupPaymentMethod({ workspaceId: ws })).toEqual({
        url: `https://pay.example.test/setup/${ws}`,
      });
      // The provider's webhook saves the method (payments tests drive that path end to end).
      await h.store.autoTopUp.savePaymentMethod({
        workspaceId: ws,
        provider: 'sandbox',
        customerRef: null,
        methodRef: 'sbx_pm_4242',
        label: 'Sandbox card ending 4242',
        createdBy: 'payment:sandbox',
        now: T0,
      });
      // Terms for other settings (a bigger cap) are not consent to these.
      const other = await owner.autoTopUp.terms({ ...settings, monthlyCapCents: 99_900 });
      expect(
        await errorOf(owner.autoTopUp.enable({ ...settings, acceptedTerms: other.terms })),
      ).toMatchObject({ reason: 'VALIDATION', details: { field: 'acceptedTerms' } });
      expect(
        await errorOf(
          owner.autoTopUp.enable({ ...settings, monthlyCapCents: 3999, acceptedTerms: terms }),
        ),
      ).toMatchObject({ reason: 'VALIDATION', details: { field: 'monthlyCapCents' } });
      expect(
        await errorOf(
          owner.autoTopUp.enable({ ...settings, packId: 'image-100', acceptedTerms: terms }),
        ),
      ).toMatchObject({ reason: 'NOT_FOUND' });

      h.clock.advance(HOUR);
      await owner.autoTopUp.enable({ ...settings, acceptedTerms: terms });
      const read = await member.autoTopUp.get({ workspaceId: ws });
      expect(read.paymentMethod).toEqual({ label: 'Sandbox card ending 4242', createdAt: T0 });
      expect(read.wallets.map((w) => w.wallet)).toEqual(['image_credits', 'video_credits']);
      const video = read.wallets.find((w) => w.wallet === 'video_credits')!;
      expect(video.setting).toMatchObject({
        enabled: true,
        consecutiveFailures: 0,
        consent: {
          givenBy: `user:${users.owner}`,
          givenByLabel: 'Olive Owner',
          givenAt: T0 + HOUR,
          terms,
          packId: 'video-1000',
          packCredits: 1000,
          priceCents: 4000,
          currency: 'usd',
          threshold: 100,
          monthlyCapCents: 12_000,
        },
      });
      expect(video.cycle).toEqual({ spentCents: 0, inFlight: false, attempts: [] });

      expect(await owner.autoTopUp.disable({ workspaceId: ws, wallet: 'video_credits' })).toEqual({
        disabled: true,
      });
      expect(await owner.autoTopUp.disable({ workspaceId: ws, wallet: 'video_credits' })).toEqual({
        disabled: false,
      });
      expect(await owner.autoTopUp.removePaymentMethod({ workspaceId: ws })).toEqual({
        removed: true,
      });
      const actions = (await h.store.accounts.auditLog({ workspaceId: ws, limit: 20 })).items.map(
        (a) => a.action,
      );
      expect(actions.slice(0, 4)).toEqual([
        'payment_method.remove',
        'auto_top_up.disable',
        'auto_top_up.enable',
        'payment_method.save',
      ]);
    });

    it('who spent what: history, summary and CSV by member and by key; members may not see usage by key', async () => {
      const ws = h.workspaceId;
      await h.grant('video_credits', 1000);
      await h.grant('image_credits', 1000);
      const made = await owner.workspaces.keys.create({ workspaceId: ws, name: 'Render farm' });
      const farm = createCaller({
        ...h.ctx,
        caller: {
          kind: 'workspace_key',
          id: `key:${made.record.id}`,
          keyId: made.record.id,
          workspaceId: ws,
          scopes: ['wallets:read', 'usage:write'],
        },
      });
      // The member reserves a video job and the key captures it (the job stays the member's);
      // the key charges an image job of its own; the owner charges a video job.
      const hold = await member.usage.reserve({
        workspaceId: ws,
        job: video5s,
        idempotencyKey: key(),
      });
      await farm.usage.capture({ workspaceId: ws, holdId: hold.holdId, idempotencyKey: key() });
      const icon = { kind: 'image', type: 'icon', count: 2 } as const;
      const image = await farm.usage.charge({ workspaceId: ws, job: icon, idempotencyKey: key() });
      const ownerJob = await owner.usage.charge({
        workspaceId: ws,
        job: video5s,
        idempotencyKey: key(),
      });
      h.clock.advance(HOUR);

      const byMember = await owner.usage.summary({ workspaceId: ws, groupBy: 'member' });
      expect(byMember.groupBy).toBe('member');
      expect(
        byMember.groups!.map((g) => [g.id, g.label, g.detail !== null, g.total, g.wallets]),
      ).toEqual([
        // Equal totals: by name.
        [
          users.member,
          'Mo Member',
          true,
          hold.credits,
          [{ wallet: 'video_credits', spent: hold.credits }],
        ],
        [
          users.owner,
          'Olive Owner',
          true,
          ownerJob.credits,
          [{ wallet: 'video_credits', spent: ownerJob.credits }],
        ],
        [
          null,
          'API keys and services',
          false,
          image.credits,
          [{ wallet: 'image_credits', spent: image.credits }],
        ],
      ]);
      // The groups add up to the series.
      const seriesTotal = byMember.series.reduce((s, r) => s + r.spent, 0);
      expect(byMember.groups!.reduce((s, g) => s + g.total, 0)).toBe(seriesTotal);
      expect(seriesTotal).toBe(hold.credits + ownerJob.credits + image.credits);

      const byKey = await owner.usage.summary({ workspaceId: ws, groupBy: 'apiKey' });
      expect(byKey.groups!.map((g) => [g.id, g.label, g.detail, g.total])).toEqual([
        [made.record.id, 'Render farm', made.record.prefix, image.credits],
        [null, 'Members (not through a key)', null, hold.credits + ownerJob.credits],
      ]);
      // A filter narrows the series (and the groups) to that member's or key's jobs.
      const memberOnly = await member.usage.summary({
        workspaceId: ws,
        member: users.member,
        groupBy: 'member',
      });
      expect(memberOnly.series.map((r) => [r.wallet, r.spent])).toEqual([
        ['video_credits', hold.credits],
      ]);
      expect(memberOnly.groups!.map((g) => g.id)).toEqual([users.member]);
      const keyOnly = await owner.usage.summary({ workspaceId: ws, apiKey: made.record.id });
      expect(keyOnly.series.map((r) => [r.wallet, r.spent])).toEqual([
        ['image_credits', image.credits],
      ]);
      expect(keyOnly.groups).toBeNull();

      // History: the member's job, whoever captured it.
      const memberHistory = await member.usage.history({ workspaceId: ws, member: users.member });
      expect(memberHistory.items.map((e) => [e.type, e.jobId])).toEqual([
        ['spend', hold.holdId],
        ['hold', hold.holdId],
      ]);
      const keyHistory = await owner.usage.history({
        workspaceId: ws,
        apiKey: made.record.id,
        types: ['spend'],
      });
      expect(keyHistory.items.map((e) => e.jobId)).toEqual([image.jobId]);
      // The CSV export takes the same filter (the route resolves it with actorFilter).
      const csv = await csvText(
        h.store,
        { workspaceId: ws, member: users.owner },
        `user:${users.owner}`,
      );
      expect(
        csv
          .trim()
          .split('\n')
          .slice(1)
          .map((line) => line.split(',')[6]),
      ).toEqual([ownerJob.jobId]);

      // Members: by member yes; by key refused (key names and spend are the owners', like keys.list).
      for (const refused of [
        () => member.usage.summary({ workspaceId: ws, groupBy: 'apiKey' }),
        () => member.usage.summary({ workspaceId: ws, apiKey: made.record.id }),
        () => member.usage.history({ workspaceId: ws, apiKey: made.record.id }),
        () => farm.usage.history({ workspaceId: ws, apiKey: made.record.id }),
      ])
        expect((await errorOf(refused())).reason).toBe('FORBIDDEN');
      expect(
        (
          await errorOf(
            owner.usage.history({ workspaceId: ws, member: users.member, apiKey: made.record.id }),
          )
        ).reason,
      ).toBe('VALIDATION');
      // An id nobody spent under is simply empty.
      expect((await owner.usage.history({ workspaceId: ws, member: 'usr_nobody' })).items).toEqual(
        [],
      );
    });

    it('without a payment provider, auto top-up cannot be turned on (and reading still works)', async () => {
      const o = createCaller({ ...h.ctx, payments: undefined });
      const ws = h.workspaceId;
      expect((await o.autoTopUp.get({ workspaceId: ws })).provider).toBeNull();
      expect((await errorOf(o.autoTopUp.setupPaymentMethod({ workspaceId: ws }))).reason).toBe(
        'FEATURE_UNAVAILABLE',
      );
    });
  });
}
