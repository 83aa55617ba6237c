import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../src/types.js';
import { DIALECTS, type TestStore } from './dialects.js';
import { T0, grant, key, paymentOf, priced, workspace, write } from './fixtures.js';

const HOUR = 3_600_000;
const OWNER = { actor: 'user:usr_owner', action: 'test.change' };

/** Auto top-up on for Video Credits: the 200-credit pack ($10), a cap of `capCents`. */
async function enableVideoTopUp(store: Store, workspaceId: string, capCents = 3000) {
  return store.autoTopUp.enable({
    consent: {
      workspaceId,
      wallet: 'video_credits',
      givenBy: 'user:usr_owner',
      givenAt: T0,
      terms: 'The terms as shown.',
      packId: 'video-200',
      packCredits: 200,
      priceCents: 1000,
      currency: 'usd',
      threshold: 50,
      monthlyCapCents: capCents,
    },
    now: T0,
    audit: { actor: 'user:usr_owner', action: 'auto_top_up.enable' },
  });
}

async function saveMethod(store: Store, workspaceId: string, ref = `sbx_pm_${key()}`) {
  return store.autoTopUp.savePaymentMethod({
    workspaceId,
    provider: 'sandbox',
    customerRef: null,
    methodRef: ref,
    label: 'Sandbox card ending 4242',
    createdBy: 'payment:sandbox',
    now: T0,
  });
}

/** What the payment webhook does for the order: session attached, then paid or declined. */
async function settleOrder(store: Store, orderId: string, outcome: 'paid' | 'declined') {
  const session = `sbx_pi_${key()}`;
  await store.billing.attachSession({ orderId, session, url: '', now: T0 });
  const applied = await store.billing.applyPaymentEvent({
    provider: 'sandbox',
    eventId: `evt_${key()}`,
    type: `payment.${outcome}`,
    session,
    outcome,
    payment: await paymentOf(store, orderId),
    now: T0,
  });
  expect(applied.result).toBe(outcome);
  return store.autoTopUp.settle({ orderId, now: T0 });
}

function begin(store: Store, workspaceId: string, crossingKey: string, cycleKey = '2026-01-15') {
  return store.autoTopUp.begin({
    workspaceId,
    wallet: 'video_credits',
    crossingKey,
    cycleKey,
    provider: 'sandbox',
    now: T0,
  });
}

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`spend controls on ${dialect.name}`, () => {
    let t: TestStore;
    beforeEach(async () => {
      t = await dialect.make();
    });
    afterEach(async () => {
      expect((await t.store.verify()).violations).toEqual([]);
      await t.cleanup();
    });

    it('sets, replaces, lists and removes limits, each change audited', async () => {
      const ws = await workspace(t.store);
      const base = { workspaceId: ws.id, wallet: 'video_credits' as const, now: T0, audit: OWNER };
      await t.store.spendLimits.set({
        ...base,
        scope: 'key',
        subjectId: 'key_1',
        amount: 100,
        mode: 'hard',
        thresholds: [50, 80, 100],
      });
      await t.store.spendLimits.set({
        ...base,
        scope: 'workspace',
        subjectId: null,
        amount: 500,
        mode: 'soft',
        thresholds: [90],
      });
      await t.store.spendLimits.set({
        ...base,
        scope: 'workspace',
        subjectId: null,
        amount: 400,
        mode: 'hard',
        thresholds: [50, 100],
      });
      const limits = await t.store.spendLimits.list({ workspaceId: ws.id });
      expect(limits.map((l) => [l.scope, l.subjectId, l.amount, l.mode, l.thresholds])).toEqual([
        ['workspace', null, 400, 'hard', [50, 100]],
        ['key', 'key_1', 100, 'hard', [50, 80, 100]],
      ]);
      expect(await t.store.spendLimits.remove({ ...base, scope: 'key', subjectId: 'key_1' })).toBe(
        true,
      );
      expect(await t.store.spendLimits.remove({ ...base, scope: 'key', subjectId: 'key_1' })).toBe(
        false,
      );
      const audit = await t.store.accounts.auditLog({ workspaceId: ws.id, limit: 10 });
      expect(audit.items.map((a) => [a.action, a.target])).toEqual([
        ['test.change', 'spend_limit:video_credits/key/key_1'],
        ['test.change', 'spend_limit:video_credits/workspace/'],
        ['test.change', 'spend_limit:video_credits/workspace/'],
        ['test.change', 'spend_limit:video_credits/key/key_1'],
      ]);
      expect(audit.items[1]).toMatchObject({
        before: { amount: 500, mode: 'soft' },
        after: { amount: 400, mode: 'hard' },
      });
    });

    it('a limit on a workspace that does not exist is refused and writes nothing', async () => {
      await expect(
        t.store.spendLimits.set({
          workspaceId: 'ws_missing',
          wallet: 'video_credits',
          scope: 'workspace',
          subjectId: null,
          amount: 1,
          mode: 'hard',
          thresholds: [],
          now: T0,
          audit: OWNER,
        }),
      ).rejects.toMatchObject({ reason: 'WORKSPACE_NOT_FOUND' });
    });

    it('counts spend this cycle and open holds per actor', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 1000);
      const as = (actor: string, now = T0) => ({ ...write(ws.id, now), actor });
      const h1 = await t.store.reserve({ ...as('user:a'), priced: priced(100), ttlMs: HOUR });
      await t.store.capture({ ...as('service:x'), holdId: h1.holdId, credits: 70 });
      await t.store.reserve({ ...as('user:a'), priced: priced(50), ttlMs: HOUR });
      await t.store.charge({ ...as('key:k1'), priced: priced(30) });
      const h4 = await t.store.reserve({ ...as('key:k1'), priced: priced(20), ttlMs: HOUR });
      await t.store.release({ ...as('key:k1'), holdId: h4.holdId });
      // Before the cycle began: not counted.
      await t.store.charge({ ...as('user:a', T0 - 40 * 86_400_000), priced: priced(5) });
      const usage = await t.store.spendLimits.usageByActor({
        workspaceId: ws.id,
        wallet: 'video_credits',
        since: T0 - 86_400_000,
      });
      // A hold counts for whoever reserved it, whoever captures it.
      expect(usage).toEqual([
        { actor: 'key:k1', used: 30, held: 0 },
        { actor: 'user:a', used: 70, held: 50 },
      ]);
    });

    it('each threshold alerts once per cycle, with one notification, however many try at once', async () => {
      const ws = await workspace(t.store);
      const alert = (thresholds: number[], cycleKey = '2026-01-15') =>
        t.store.spendLimits.recordAlerts({
          workspaceId: ws.id,
          wallet: 'video_credits',
          scope: 'member',
          subjectId: 'usr_a',
          cycleKey,
          thresholds,
          used: 80,
          message: 'Video Credits: 80% of a spending limit used.',
          now: T0,
        });
      const results = await Promise.all(Array.from({ length: 20 }, () => alert([50, 80])));
      expect(results.filter((r) => r.length > 0)).toEqual([[50, 80]]);
      expect(await alert([80, 100])).toEqual([100]);
      expect(await alert([100])).toEqual([]);
      // The next cycle alerts again.
      expect(await alert([50], '2026-02-15')).toEqual([50]);
      const notes = await t.store.billing.notifications({ workspaceId: ws.id, limit: 50 });
      expect(notes.map((n) => n.kind)).toEqual([
        'limit_threshold',
        'limit_threshold',
        'limit_threshold',
      ]);
      expect(
        (await t.store.spendLimits.alerts({ workspaceId: ws.id, cycleKey: '2026-01-15' })).map(
          (a) => [a.scope, a.subjectId, a.threshold],
        ),
      ).toEqual([
        ['member', 'usr_a', 50],
        ['member', 'usr_a', 80],
        ['member', 'usr_a', 100],
      ]);
    });

    it('a saved method replaces the previous one; saving the same method again changes nothing', async () => {
      const ws = await workspace(t.store);
      const first = await saveMethod(t.store, ws.id, 'sbx_pm_first');
      expect(await saveMethod(t.store, ws.id, 'sbx_pm_first')).toEqual(first);
      const second = await saveMethod(t.store, ws.id, 'sbx_pm_second');
      expect(
        await t.store.autoTopUp.paymentMethod({ workspaceId: ws.id, provider: 'sandbox' }),
      ).toEqual(second);
      const other = await workspace(t.store);
      await expect(saveMethod(t.store, other.id, 'sbx_pm_second')).rejects.toMatchObject({
        reason: 'VALIDATION',
      });
    });

    it('starts one purchase per crossing and one at a time, records the consent word for word', async () => {
      const ws = await workspace(t.store);
      expect(await begin(t.store, ws.id, 'c1')).toEqual({ started: false, skipped: 'not_enabled' });
      const setting = await enableVideoTopUp(t.store, ws.id);
      expect(setting.consent).toMatchObject({
        terms: 'The terms as shown.',
        monthlyCapCents: 3000,
      });
      expect(await begin(t.store, ws.id, 'c1')).toEqual({
        started: false,
        skipped: 'no_payment_method',
      });
      await saveMethod(t.store, ws.id);
      // 200 crossings reported at once (distinct keys): one purchase, the rest wait for it.
      const started = await Promise.all(
        Array.from({ length: 200 }, (_, i) => begin(t.store, ws.id, `c${i}`)),
      );
      const winners = started.filter((s) => s.started);
      expect(winners).toHaveLength(1);
      expect(new Set(started.flatMap((s) => (s.started ? [] : [s.skipped])))).toEqual(
        new Set(['in_flight']),
      );
      const first = winners[0]!;
      if (!first.started) throw new Error('unreachable');
      const order = await t.store.billing.order({ orderId: first.attempt.orderId });
      expect(order).toMatchObject({
        status: 'pending',
        packId: 'video-200',
        credits: 200,
        priceCents: 1000,
        createdBy: 'system:auto_top_up',
      });
      expect(await settleOrder(t.store, first.attempt.orderId, 'paid')).toEqual({
        settled: true,
        status: 'paid',
        turnedOff: false,
      });
      // Settling twice does nothing more; the same crossing never buys twice.
      expect(await t.store.autoTopUp.settle({ orderId: first.attempt.orderId, now: T0 })).toEqual({
        settled: false,
        status: 'paid',
        turnedOff: false,
      });
      expect(await begin(t.store, ws.id, first.attempt.crossingKey)).toEqual({
        started: false,
        skipped: 'duplicate_crossing',
      });
      const video = (await t.store.wallets(ws.id)).find((w) => w.kind === 'video_credits');
      expect(video?.available).toBe(200);
    });

    it('never spends above the cycle cap over a month of crossings; the next cycle starts afresh', async () => {
      const ws = await workspace(t.store);
      await enableVideoTopUp(t.store, ws.id, 3500);
      await saveMethod(t.store, ws.id);
      const outcomes: string[] = [];
      for (let i = 0; i < 50; i += 1) {
        const s = await begin(t.store, ws.id, `month-${i}`);
        outcomes.push(s.started ? 'bought' : s.skipped);
        if (s.started) await settleOrder(t.store, s.attempt.orderId, 'paid');
      }
      expect(outcomes.filter((o) => o === 'bought')).toHaveLength(3);
      expect(outcomes.slice(3).every((o) => o === 'cap_reached')).toBe(true);
      const attempts = await t.store.autoTopUp.attempts({
        workspaceId: ws.id,
        cycleKey: '2026-01-15',
        limit: 100,
      });
      expect(attempts.reduce((s, a) => s + a.priceCents, 0)).toBe(3000);
      expect((await begin(t.store, ws.id, 'next-cycle', '2026-02-15')).started).toBe(true);
    });

    it('three declines in a row turn auto top-up off with one notification; a payment in between resets the count', async () => {
      const ws = await workspace(t.store);
      await enableVideoTopUp(t.store, ws.id, 100_000);
      await saveMethod(t.store, ws.id);
      const attempt = async (i: number, outcome: 'paid' | 'declined') => {
        const s = await begin(t.store, ws.id, `d${i}`);
        if (!s.started) throw new Error(`not started: ${s.skipped}`);
        return settleOrder(t.store, s.attempt.orderId, outcome);
      };
      await attempt(1, 'declined');
      await attempt(2, 'declined');
      await attempt(3, 'paid');
      await attempt(4, 'declined');
      await attempt(5, 'declined');
      expect((await t.store.autoTopUp.settings({ workspaceId: ws.id }))[0]).toMatchObject({
        enabled: true,
        consecutiveFailures: 2,
      });
      expect(await attempt(6, 'declined')).toEqual({
        settled: true,
        status: 'declined',
        turnedOff: true,
      });
      expect((await t.store.autoTopUp.settings({ workspaceId: ws.id }))[0]).toMatchObject({
        enabled: false,
        disabledReason: 'declines',
        consecutiveFailures: 3,
      });
      expect(await begin(t.store, ws.id, 'd7')).toEqual({ started: false, skipped: 'not_enabled' });
      const notes = await t.store.billing.notifications({ workspaceId: ws.id, limit: 10 });
      expect(notes.filter((n) => n.kind === 'auto_top_up_off')).toHaveLength(1);
      expect(notes[0]?.message).toMatch(/^Auto top-up for Video Credits is off: 3 payments/);
    });

    it('a provider that took no payment ends the attempt without counting a decline', async () => {
      const ws = await workspace(t.store);
      await enableVideoTopUp(t.store, ws.id);
      await saveMethod(t.store, ws.id);
      const s = await begin(t.store, ws.id, 'x');
      if (!s.started) throw new Error(s.skipped);
      expect(
        await t.store.autoTopUp.settle({ orderId: s.attempt.orderId, now: T0, failed: true }),
      ).toEqual({ settled: true, status: 'failed', turnedOff: false });
      expect(await t.store.billing.order({ orderId: s.attempt.orderId })).toMatchObject({
        status: 'expired',
      });
      expect(
        (await t.store.autoTopUp.settings({ workspaceId: ws.id }))[0]?.consecutiveFailures,
      ).toBe(0);
      expect((await begin(t.store, ws.id, 'y')).started).toBe(true);
    });

    it('turns off (once, notified) when the consented pack changed price, and never charges the new one', async () => {
      const ws = await workspace(t.store);
      await enableVideoTopUp(t.store, ws.id);
      await saveMethod(t.store, ws.id);
      const pack = (await t.store.billing.packs({ wallet: 'video_credits' })).find(
        (p) => p.id === 'video-200',
      )!;
      await t.store.billing.savePack({
        pack: { ...pack, priceCents: 1200 },
        now: T0,
        audit: { actor: 'admin', action: 'pack.save', target: '' },
      });
      expect(await begin(t.store, ws.id, 'p1')).toEqual({
        started: false,
        skipped: 'pack_changed',
      });
      expect(await begin(t.store, ws.id, 'p2')).toEqual({ started: false, skipped: 'not_enabled' });
      const notes = await t.store.billing.notifications({ workspaceId: ws.id, limit: 10 });
      expect(notes.map((n) => n.kind)).toEqual(['auto_top_up_off']);
    });

    it('removing the saved method turns auto top-up off', async () => {
      const ws = await workspace(t.store);
      await enableVideoTopUp(t.store, ws.id);
      await saveMethod(t.store, ws.id);
      expect(
        await t.store.autoTopUp.removePaymentMethod({
          workspaceId: ws.id,
          provider: 'sandbox',
          now: T0,
          audit: OWNER,
        }),
      ).toBe(true);
      expect((await t.store.autoTopUp.settings({ workspaceId: ws.id }))[0]).toMatchObject({
        enabled: false,
        disabledReason: 'no_payment_method',
      });
    });

    it('finds attempts whose order settled without them (a crash between the two)', async () => {
      const ws = await workspace(t.store);
      await enableVideoTopUp(t.store, ws.id);
      await saveMethod(t.store, ws.id);
      const s = await begin(t.store, ws.id, 'crash');
      if (!s.started) throw new Error(s.skipped);
      const session = 'sbx_pi_crash';
      await t.store.billing.attachSession({
        orderId: s.attempt.orderId,
        session,
        url: '',
        now: T0,
      });
      await t.store.billing.applyPaymentEvent({
        provider: 'sandbox',
        eventId: 'evt_crash',
        type: 'payment.paid',
        session,
        outcome: 'paid',
        payment: await paymentOf(t.store, s.attempt.orderId),
        now: T0,
      });
      expect(await t.store.autoTopUp.unsettled({ limit: 10 })).toEqual([
        { orderId: s.attempt.orderId },
      ]);
      await t.store.autoTopUp.settle({ orderId: s.attempt.orderId, now: T0 });
      expect(await t.store.autoTopUp.unsettled({ limit: 10 })).toEqual([]);
    });
  });
}
