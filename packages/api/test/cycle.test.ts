import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findPlan } from '@credits/domain';
import type { LedgerEntry } from '@credits/store';
import { DIALECTS } from '@credits/store/testing';
import { HOUR, key, paymentOf } from './factory.js';
import {
  DAY,
  ORDER_TTL_MS,
  boundaryIn,
  isoDay,
  makeBillingApi,
  newSweepState,
  startSweeper,
  sweepOnce,
  type BillingHarness,
} from './billing-harness.js';

/**
 * SPEC 4 and issue 5's must-show: the AI token cycle, monthly from the anchor day clamped
 * to the month's end; each cycle's allowance granted exactly once — found by a request, a
 * charge or the sweeper, after a restart, after days down, under 200 concurrent requests —
 * and the past cycle's remainder expired, once; upgrades at once, downgrades at the reset;
 * packs never touch the plan. Every test ends with `verify` clean.
 */

const STARTER = findPlan('starter')!.aiTokensPerCycle;
const PRO = findPlan('pro')!.aiTokensPerCycle;
const BUSINESS = findPlan('business')!.aiTokensPerCycle;
const ai = (tokens: number) => ({ kind: 'ai' as const, tokens });

interface Cycle {
  start: number;
  end: number;
}

/** The cycle containing `at` and the `count` after it, from the boundaries written out independently. */
function cyclesFrom(at: number, anchorDay: number, count: number): Cycle[] {
  const y = new Date(at).getUTCFullYear();
  const m = new Date(at).getUTCMonth();
  let k = boundaryIn(y, m, anchorDay) <= at ? 0 : -1;
  const cycles: Cycle[] = [];
  while (cycles.length <= count) {
    cycles.push({
      start: boundaryIn(y, m + k, anchorDay),
      end: boundaryIn(y, m + k + 1, anchorDay),
    });
    k += 1;
  }
  return cycles;
}

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`AI token cycle on ${dialect.name}`, () => {
    let h: BillingHarness;
    beforeEach(async () => {
      h = await makeBillingApi(dialect, { start: Date.UTC(2028, 0, 10, 12) });
    });
    afterEach(async () => {
      const report = await h.store.verify();
      expect(report.violations).toEqual([]);
      await h.cleanup();
    });

    const charge = (workspaceId: string, tokens: number) =>
      h.api.usage.charge({ workspaceId, job: ai(tokens), idempotencyKey: key('charge') });
    const aiWallet = (workspaceId: string) =>
      h.api.wallets.get({ workspaceId, wallet: 'ai_tokens' });
    /** Every AI Tokens entry of these types, newest first (all pages). */
    const aiEntries = async (workspaceId: string, types: LedgerEntry['type'][]) => {
      const out: LedgerEntry[] = [];
      let cursor: string | undefined;
      do {
        const page = await h.api.usage.history({
          workspaceId,
          wallet: 'ai_tokens',
          types,
          cursor,
          limit: 200,
        });
        out.push(...page.items);
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      return out;
    };

    /**
     * The allowance lots are exactly one per cycle in `cycles`; every cycle but the last has
     * expired (at `expiredAt`, or any time when null) with one `expire` entry for what its
     * cycle left unspent; the last is live with what is left of it.
     */
    async function expectAllowances(
      workspaceId: string,
      cycles: Cycle[],
      used: (c: Cycle) => number,
      expiredAt: (c: Cycle) => number | null = (c) => c.end,
    ) {
      const lots = await h.allowanceLots(workspaceId);
      expect(lots.map((l) => l.cycleKey).sort()).toEqual(cycles.map((c) => isoDay(c.start)));
      const [grants, expires] = await Promise.all([
        aiEntries(workspaceId, ['grant']),
        aiEntries(workspaceId, ['expire']),
      ]);
      expect(grants).toHaveLength(cycles.length);
      expect(expires).toHaveLength(cycles.length - 1);
      cycles.forEach((c, i) => {
        const lot = lots.find((l) => l.cycleKey === isoDay(c.start))!;
        expect(lot.expiresAt).toBe(c.end);
        const left = lot.granted - used(c);
        if (i < cycles.length - 1) {
          expect(lot.remaining).toBe(0);
          const when = expiredAt(c);
          if (when === null) expect(lot.expiredAt).not.toBeNull();
          else expect(lot.expiredAt).toBe(when);
          const mine = expires.filter((e) => e.lots.some((a) => a.lotId === lot.id));
          expect(mine).toHaveLength(1);
          expect(mine[0]).toMatchObject({
            amount: -left,
            lots: [{ lotId: lot.id, amount: -left }],
          });
        } else {
          expect(lot.expiredAt).toBeNull();
          expect(lot.remaining).toBe(left);
        }
      });
    }

    describe('walking the clock across 14 months', () => {
      for (const anchorDay of [31, 30, 29, 15, 1]) {
        it(`anchor day ${anchorDay}: each boundary grants one allowance and expires the last one's remainder`, async () => {
          const ws = await h.createWorkspace({ plan: 'starter', anchorDay });
          const cycles = cyclesFrom(h.clock.now(), anchorDay, 15);
          const used = new Map<number, number>();
          const usedIn = (c: Cycle) => used.get(c.start) ?? 0;
          const spend = async (c: Cycle, tokens: number) => {
            await charge(ws, tokens);
            used.set(c.start, usedIn(c) + tokens);
          };
          expect(await aiWallet(ws)).toMatchObject({
            balance: STARTER,
            cycle: { usedThisCycle: 0, planLimit: STARTER, resetsAt: cycles[0]!.end },
          });

          for (let j = 1; j <= 14; j++) {
            const prev = cycles[j - 1]!;
            const cur = cycles[j]!;
            await spend(prev, 1000 * j);
            // A millisecond before the boundary: still the old cycle, nothing granted early.
            h.clock.set(cur.start - 1);
            expect((await aiWallet(ws)).cycle).toEqual({
              usedThisCycle: usedIn(prev),
              planLimit: STARTER,
              resetsAt: cur.start,
            });
            expect(await h.allowanceLots(ws)).toHaveLength(j);

            // At the boundary, a different finder each month: a read, the sweeper after a
            // restart (the process's memo forgotten), or a charge.
            h.clock.set(cur.start);
            switch (j % 3) {
              case 0:
                await h.api.wallets.list({ workspaceId: ws });
                break;
              case 1: {
                h.forgetCycle();
                const r = await h.sweep();
                expect(r.failures).toEqual([]);
                break;
              }
              default:
                await spend(cur, 500);
            }
            await expectAllowances(ws, cycles.slice(0, j + 1), usedIn);
            expect(await aiWallet(ws)).toMatchObject({
              balance: STARTER - usedIn(cur),
              status: 'active',
              cycle: {
                usedThisCycle: usedIn(cur),
                planLimit: STARTER,
                resetsAt: cycles[j + 1]!.start,
              },
            });
          }

          // Month ends: the boundaries the walk crossed, written out for the short months.
          const keys = cycles.slice(0, 15).map((c) => isoDay(c.start));
          const expected: Record<number, string[]> = {
            31: [
              '2028-02-29',
              '2028-04-30',
              '2028-06-30',
              '2028-09-30',
              '2028-11-30',
              '2029-02-28',
            ],
            30: ['2028-02-29', '2028-03-30', '2029-01-30', '2029-02-28'],
            29: ['2028-02-29', '2028-03-29', '2029-01-29', '2029-02-28'],
            15: ['2028-02-15', '2029-02-15'],
            1: ['2028-02-01', '2028-03-01', '2029-02-01', '2029-03-01'],
          };
          for (const k of expected[anchorDay]!) expect(keys).toContain(k);
          if (anchorDay >= 29)
            expect(keys.filter((k) => k.startsWith('2028-02') || k.startsWith('2029-02'))).toEqual([
              '2028-02-29',
              '2029-02-28',
            ]);
          // Catching up again finds nothing to do.
          h.forgetCycle();
          expect((await h.sweep()).failures).toEqual([]);
          await h.api.wallets.list({ workspaceId: ws });
          expect(await h.allowanceLots(ws)).toHaveLength(15);
        });
      }
    });

    describe('downtime', () => {
      it('a 40-day outage, then one request: the missed cycle is granted once and expired, the current one granted once', async () => {
        h.clock.set(Date.UTC(2028, 0, 31, 23));
        const ws = await h.createWorkspace({ plan: 'starter', anchorDay: 1 });
        await charge(ws, 5_000);
        h.clock.advance(40 * DAY); // 2028-03-11 23:00: 1 Feb and 1 Mar passed while down
        h.forgetCycle(); // a restart
        const w = await aiWallet(ws);
        expect(w).toMatchObject({
          balance: STARTER,
          cycle: { usedThisCycle: 0, planLimit: STARTER, resetsAt: Date.UTC(2028, 3, 1) },
        });
        const cycles = cyclesFrom(Date.UTC(2028, 0, 15), 1, 2);
        expect(cycles.map((c) => isoDay(c.start))).toEqual([
          '2028-01-01',
          '2028-02-01',
          '2028-03-01',
        ]);
        // January's remainder and all of February's allowance expire when the request finds them.
        await expectAllowances(
          ws,
          cycles,
          (c) => (c.start === Date.UTC(2028, 0, 1) ? 5_000 : 0),
          () => h.clock.now(),
        );
        // Again, by every finder: nothing more.
        h.forgetCycle();
        expect((await h.sweep()).failures).toEqual([]);
        await charge(ws, 1);
        h.forgetCycle();
        await h.api.wallets.list({ workspaceId: ws });
        expect(await h.allowanceLots(ws)).toHaveLength(3);
        expect(await aiEntries(ws, ['grant'])).toHaveLength(3);
        expect(await aiEntries(ws, ['expire'])).toHaveLength(2);
      });

      it('a 40-day outage over a leap day, found by the sweeper after a restart', async () => {
        h.clock.set(Date.UTC(2028, 0, 30, 12));
        const ws = await h.createWorkspace({ plan: 'starter', anchorDay: 31 });
        await charge(ws, 7_000);
        h.clock.advance(40 * DAY); // 2028-03-10: 31 Jan and 29 Feb passed while down
        h.forgetCycle();
        const r = await h.sweep();
        expect(r.failures).toEqual([]);
        expect(r.cycles).toBe(1);
        const cycles = cyclesFrom(Date.UTC(2028, 0, 1), 31, 2);
        expect(cycles.map((c) => isoDay(c.start))).toEqual([
          '2027-12-31',
          '2028-01-31',
          '2028-02-29',
        ]);
        // The sweeper granted and expired before any request came.
        await expectAllowances(
          ws,
          cycles,
          (c) => (c.start === Date.UTC(2027, 11, 31) ? 7_000 : 0),
          () => h.clock.now(),
        );
        expect(await aiWallet(ws)).toMatchObject({
          balance: STARTER,
          cycle: { usedThisCycle: 0, planLimit: STARTER, resetsAt: Date.UTC(2028, 2, 31) },
        });
        expect((await h.sweep()).failures).toEqual([]);
        expect(await h.allowanceLots(ws)).toHaveLength(3);
      });

      it('an outage longer than the catch-up bound (30 months) still grants the current cycle, once', async () => {
        h.clock.set(Date.UTC(2028, 0, 20));
        const ws = await h.createWorkspace({ plan: 'starter', anchorDay: 1 });
        h.clock.set(Date.UTC(2030, 6, 10)); // 30 cycles later
        h.forgetCycle();
        const w = await aiWallet(ws);
        expect(w).toMatchObject({
          balance: STARTER,
          cycle: { usedThisCycle: 0, planLimit: STARTER, resetsAt: Date.UTC(2030, 7, 1) },
        });
        // The first cycle, then the latest 24 (the documented catch-up bound), each once: the
        // 6 oldest missed cycles would have been granted and expired at once anyway.
        const latest = cyclesFrom(Date.UTC(2028, 7, 1), 1, 23).map((c) => isoDay(c.start));
        expect(latest.at(-1)).toBe('2030-07-01');
        const lots = await h.allowanceLots(ws);
        expect(lots.map((l) => l.cycleKey!).sort()).toEqual(['2028-01-01', ...latest]);
        expect(lots.filter((l) => l.expiredAt === null).map((l) => l.cycleKey)).toEqual([
          '2030-07-01',
        ]);
        expect(await aiEntries(ws, ['expire'])).toHaveLength(24);
        h.forgetCycle();
        await h.sweep();
        await h.api.wallets.list({ workspaceId: ws });
        expect(await h.allowanceLots(ws)).toHaveLength(lots.length);
      });
    });

    describe('concurrency at the boundary', () => {
      it('200 concurrent reads, quotes and charges plus 4 sweeper passes grant the new cycle exactly once', async () => {
        h.clock.set(Date.UTC(2028, 0, 20, 9));
        const ws = await h.createWorkspace({ plan: 'starter', anchorDay: 15 });
        await charge(ws, 12_345);
        h.clock.set(Date.UTC(2028, 1, 15));
        h.forgetCycle();
        const calls: Promise<unknown>[] = [];
        for (let i = 0; i < 200; i++) {
          switch (i % 4) {
            case 0:
              calls.push(h.api.wallets.list({ workspaceId: ws }));
              break;
            case 1:
              calls.push(charge(ws, 100));
              break;
            case 2:
              calls.push(aiWallet(ws));
              break;
            default:
              calls.push(h.api.usage.quote({ workspaceId: ws, job: ai(10) }));
          }
          if (i % 50 === 0) calls.push(h.sweep().then((r) => expect(r.failures).toEqual([])));
        }
        const settled = await Promise.allSettled(calls);
        expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
        const cycles = cyclesFrom(Date.UTC(2028, 0, 20), 15, 1);
        await expectAllowances(ws, cycles, (c) =>
          c.start === Date.UTC(2028, 0, 15) ? 12_345 : 50 * 100,
        );
        expect(await aiWallet(ws)).toMatchObject({
          balance: STARTER - 50 * 100,
          cycle: { usedThisCycle: 50 * 100, planLimit: STARTER, resetsAt: Date.UTC(2028, 2, 15) },
        });
      });

      it('with a downgrade pending, 200 concurrent requests at the boundary grant the new plan’s allowance once', async () => {
        h.clock.set(Date.UTC(2028, 0, 20, 9));
        const ws = await h.createWorkspace({ plan: 'pro', anchorDay: 15 });
        const set = await h.api.admin.workspaces.setPlan({
          workspaceId: ws,
          plan: 'starter',
          reason: 'Customer asked',
          idempotencyKey: key('plan'),
        });
        expect(set).toMatchObject({ plan: 'pro', pendingPlan: 'starter', effective: 'next_reset' });
        h.clock.set(Date.UTC(2028, 1, 15));
        h.forgetCycle();
        const calls: Promise<unknown>[] = [];
        for (let i = 0; i < 200; i++) {
          calls.push(i % 2 === 0 ? h.api.wallets.list({ workspaceId: ws }) : charge(ws, 10));
          if (i % 50 === 0) calls.push(h.sweep().then((r) => expect(r.failures).toEqual([])));
        }
        const settled = await Promise.allSettled(calls);
        expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
        const lots = await h.allowanceLots(ws);
        expect(lots.map((l) => [l.cycleKey, l.granted])).toEqual([
          ['2028-01-15', PRO],
          ['2028-02-15', STARTER],
        ]);
        expect((await h.api.admin.workspaces.get({ workspaceId: ws })).workspace.plan).toBe(
          'starter',
        );
        expect(await aiWallet(ws)).toMatchObject({
          balance: STARTER - 100 * 10,
          cycle: { planLimit: STARTER, usedThisCycle: 1000 },
        });
      });
    });

    it('a quote at a boundary nobody has granted yet counts the coming allowance (a pending downgrade applied) and writes nothing', async () => {
      h.clock.set(Date.UTC(2028, 0, 20, 9));
      const ws = await h.createWorkspace({ plan: 'pro', anchorDay: 15 });
      await h.api.admin.workspaces.setPlan({
        workspaceId: ws,
        plan: 'starter',
        reason: 'Downgrade',
        idempotencyKey: key('plan'),
      });
      await charge(ws, 3_000);
      h.clock.set(Date.UTC(2028, 1, 15, 1));
      h.forgetCycle();
      const before = {
        lots: await h.store.lots({ workspaceId: ws }),
        history: (await h.store.history({ workspaceId: ws, limit: 200 })).items,
        workspace: await h.store.getWorkspace(ws),
        pending: await h.store.billing.pendingPlan(ws),
      };
      const q = await h.api.usage.quote({ workspaceId: ws, job: ai(10) });
      expect(q).toMatchObject({ balance: STARTER, usable: STARTER, sufficient: true });
      expect(await h.api.usage.quote({ workspaceId: ws, job: ai(STARTER + 1) })).toMatchObject({
        usable: STARTER,
        sufficient: false,
      });
      expect({
        lots: await h.store.lots({ workspaceId: ws }),
        history: (await h.store.history({ workspaceId: ws, limit: 200 })).items,
        workspace: await h.store.getWorkspace(ws),
        pending: await h.store.billing.pendingPlan(ws),
      }).toEqual(before);
      expect(before.pending).toBe('starter');
      // The first write at the boundary grants what the quote counted.
      await charge(ws, 10);
      expect((await h.allowanceLots(ws)).map((l) => [l.cycleKey, l.granted])).toEqual([
        ['2028-01-15', PRO],
        ['2028-02-15', STARTER],
      ]);
      expect(await aiWallet(ws)).toMatchObject({ balance: STARTER - 10 });
    });

    it('a request holding a copy of the workspace from before another applied the pending downgrade grants the new plan', async () => {
      h.clock.set(Date.UTC(2028, 0, 20, 9));
      const ws = await h.createWorkspace({ plan: 'pro', anchorDay: 15 });
      await h.api.admin.workspaces.setPlan({
        workspaceId: ws,
        plan: 'starter',
        reason: 'Downgrade',
        idempotencyKey: key('plan'),
      });
      const stale = (await h.store.getWorkspace(ws))!;
      expect(stale.plan).toBe('pro');
      h.clock.set(Date.UTC(2028, 1, 15));
      h.forgetCycle();
      // Another request found the reset first: it applied the downgrade and has not granted yet.
      expect(await h.store.billing.applyPendingPlan({ workspaceId: ws, now: h.clock.now() })).toBe(
        'starter',
      );
      const cycle = await h.ctx.cycles.ensure(stale, h.clock.now());
      expect(cycle).toMatchObject({ key: '2028-02-15', plan: 'starter' });
      expect((await h.allowanceLots(ws)).map((l) => [l.cycleKey, l.granted])).toEqual([
        ['2028-01-15', PRO],
        ['2028-02-15', STARTER],
      ]);
    });

    describe('the sweeper pass', () => {
      it('over its batch, checks cycles over several passes and expires lots only once every cycle is current', async () => {
        h.clock.set(Date.UTC(2028, 0, 20));
        const ids = [
          await h.createWorkspace({ plan: 'free', anchorDay: 1 }),
          await h.createWorkspace({ plan: 'free', anchorDay: 1 }),
          await h.createWorkspace({ plan: 'free', anchorDay: 1 }),
        ];
        // Free's 20,000 tokens, nearly all spent (low): were the old lot expired before the new
        // grant, the wallet would cross into empty and record an alert.
        for (const ws of ids) await charge(ws, 19_000);
        h.clock.set(Date.UTC(2028, 1, 1));
        h.forgetCycle();
        const state = newSweepState();
        const pass = () => sweepOnce(h.store, h.clock.now(), { state, cycleBatch: 2 });
        expect(await pass()).toMatchObject({ cycles: 2, cyclesPending: 1, lots: 0, failures: [] });
        expect(await pass()).toMatchObject({
          cycles: 1,
          cyclesPending: 0,
          lots: 3 * 1_000,
          failures: [],
        });
        // Nothing is due until the next boundary: the state remembers each cycle's end.
        h.clock.advance(HOUR);
        expect(await pass()).toMatchObject({ cycles: 0, cyclesPending: 0, lots: 0 });
        for (const ws of ids) {
          expect((await h.allowanceLots(ws)).map((l) => [l.cycleKey, l.remaining])).toEqual([
            ['2028-01-01', 0],
            ['2028-02-01', 20_000],
          ]);
          const alerts = await h.api.notifications.list({ workspaceId: ws, limit: 10 });
          expect(alerts.map((n) => `${n.wallet}:${n.kind}:${n.balance}`)).toEqual([
            'ai_tokens:low:1000',
          ]);
          expect((await aiWallet(ws)).status).toBe('active');
        }
      });

      it('expires pending orders older than 24 h (a late payment then adds nothing), releases stale holds', async () => {
        const ws = await h.createWorkspace({ plan: 'starter' });
        const t0 = h.clock.now();
        const old = await h.api.billing.checkout({
          workspaceId: ws,
          packId: 'image-100',
          idempotencyKey: key('co'),
        });
        const paid = await h.api.billing.checkout({
          workspaceId: ws,
          packId: 'image-100',
          idempotencyKey: key('co'),
        });
        await h.store.billing.applyPaymentEvent({
          provider: 'sandbox',
          eventId: key('evt'),
          type: 'paid',
          session: `cs_${paid.orderId}`,
          outcome: 'paid',
          payment: await paymentOf(h.store, paid.orderId),
          now: t0,
        });
        h.clock.set(t0 + 23 * HOUR);
        const fresh = await h.api.billing.checkout({
          workspaceId: ws,
          packId: 'image-500',
          idempotencyKey: key('co'),
        });
        h.clock.advance(1); // the hold's hour ends with the first order's day
        const hold = await h.api.usage.reserve({
          workspaceId: ws,
          job: ai(1_000),
          idempotencyKey: key('r'),
        });

        h.clock.set(t0 + ORDER_TTL_MS);
        expect(await h.sweep()).toMatchObject({ orders: 0, holds: 0, failures: [] });
        h.clock.set(t0 + ORDER_TTL_MS + 1);
        expect(await h.sweep()).toMatchObject({ orders: 1, holds: 1, failures: [] });
        const status = async (orderId: string) =>
          (await h.api.billing.order({ workspaceId: ws, orderId })).status;
        expect([
          await status(old.orderId),
          await status(paid.orderId),
          await status(fresh.orderId),
        ]).toEqual(['expired', 'paid', 'pending']);
        expect(
          (await h.api.usage.jobs({ workspaceId: ws })).items.find((j) => j.id === hold.holdId)
            ?.status,
        ).toBe('expired');
        const late = await h.store.billing.applyPaymentEvent({
          provider: 'sandbox',
          eventId: key('evt'),
          type: 'paid',
          session: `cs_${old.orderId}`,
          outcome: 'paid',
          payment: await paymentOf(h.store, old.orderId),
          now: h.clock.now(),
        });
        expect(late.result).toBe('already_settled');
        expect(
          (await h.api.wallets.get({ workspaceId: ws, wallet: 'image_credits' })).balance,
        ).toBe(100);
      });

      it('a failing step is reported and the others still run', async () => {
        const ws = await h.createWorkspace({ plan: 'starter', anchorDay: 10 });
        h.clock.set(Date.UTC(2028, 1, 10));
        h.forgetCycle();
        const broken = new Error('orders table is on fire');
        const billing = new Proxy(h.store.billing, {
          get: (target, prop, receiver) =>
            prop === 'expireOrders'
              ? () => Promise.reject(broken)
              : (Reflect.get(target, prop, receiver) as unknown),
        });
        const store = new Proxy(h.store, {
          get: (target, prop, receiver) =>
            prop === 'billing' ? billing : (Reflect.get(target, prop, receiver) as unknown),
        });
        const r = await sweepOnce(store, h.clock.now(), { state: newSweepState() });
        expect(r.failures).toEqual([{ step: 'orders', error: broken }]);
        expect(r).toMatchObject({ cycles: 1, lots: STARTER });
        expect((await h.allowanceLots(ws)).map((l) => l.cycleKey)).toEqual([
          '2028-01-10',
          '2028-02-10',
        ]);
      });

      it('startSweeper runs passes on its interval, one at a time, and logs what they did', async () => {
        const ws = await h.createWorkspace({ plan: 'starter', anchorDay: 10 });
        h.clock.set(Date.UTC(2028, 1, 10));
        h.forgetCycle();
        const logged: { msg: string; obj: Record<string, unknown> }[] = [];
        const logger = {
          info: (obj: Record<string, unknown>, msg: string) => logged.push({ msg, obj }),
          error: (obj: Record<string, unknown>, msg: string) => logged.push({ msg, obj }),
        } as unknown as Parameters<typeof startSweeper>[0]['logger'];
        const sweeper = startSweeper({
          store: h.store,
          clock: h.clock.now,
          intervalMs: 10,
          logger,
        });
        try {
          await expect
            .poll(() => logged.some((l) => l.msg === 'sweep'), { timeout: 5_000, interval: 20 })
            .toBe(true);
        } finally {
          sweeper.stop();
          await sweeper.idle();
        }
        expect(logged.filter((l) => l.msg !== 'sweep')).toEqual([]);
        expect(logged.find((l) => l.msg === 'sweep')!.obj).toMatchObject({
          cycles: 1,
          lots: STARTER,
        });
        expect((await h.allowanceLots(ws)).map((l) => l.cycleKey)).toEqual([
          '2028-01-10',
          '2028-02-10',
        ]);
      });
    });

    describe('plan changes', () => {
      it('an upgrade mid-cycle raises the allowance at once to the new limit less what was used', async () => {
        h.clock.set(Date.UTC(2028, 2, 5, 10));
        const ws = await h.createWorkspace({ plan: 'starter', anchorDay: 1 });
        await charge(ws, 50_000);
        h.clock.advance(3 * DAY);
        const input = {
          workspaceId: ws,
          plan: 'pro',
          reason: 'Upgrade',
          idempotencyKey: key('plan'),
        };
        const up = await h.api.admin.workspaces.setPlan(input);
        expect(up).toEqual({
          plan: 'pro',
          pendingPlan: null,
          effective: 'now',
          toppedUp: PRO - 50_000 - (STARTER - 50_000),
        });
        // A replay tops up nothing more.
        expect(await h.api.admin.workspaces.setPlan(input)).toMatchObject({ effective: 'now' });
        const after = await aiWallet(ws);
        expect(after).toMatchObject({
          balance: PRO - 50_000,
          cycle: { usedThisCycle: 50_000, planLimit: PRO, resetsAt: Date.UTC(2028, 3, 1) },
        });
        expect((await h.api.admin.workspaces.get({ workspaceId: ws })).workspace).toMatchObject({
          plan: 'pro',
          features: ['video_edit'],
        });

        // Spend more, then upgrade again: Business's limit less everything used this cycle.
        await charge(ws, 100_000);
        const again = await h.api.admin.workspaces.setPlan({
          workspaceId: ws,
          plan: 'business',
          reason: 'Upgrade',
          idempotencyKey: key('plan'),
        });
        expect(again.toppedUp).toBe(BUSINESS - 150_000 - (PRO - 150_000));
        expect(await aiWallet(ws)).toMatchObject({
          balance: BUSINESS - 150_000,
          cycle: { usedThisCycle: 150_000, planLimit: BUSINESS },
        });

        // At the reset: the allowance and both top-ups expire; Business's allowance, once.
        h.clock.set(Date.UTC(2028, 3, 1));
        expect(await aiWallet(ws)).toMatchObject({
          balance: BUSINESS,
          cycle: { usedThisCycle: 0, planLimit: BUSINESS, resetsAt: Date.UTC(2028, 4, 1) },
        });
        const lots = await h.allowanceLots(ws);
        expect(
          lots.filter((l) => l.expiredAt === null).map((l) => [l.cycleKey, l.granted]),
        ).toEqual([['2028-04-01', BUSINESS]]);
        expect(lots.filter((l) => l.cycleKey!.startsWith('2028-03-01'))).toHaveLength(3);
        const expired = await aiEntries(ws, ['expire']);
        expect(expired.reduce((s, e) => s + e.amount, 0)).toBe(-(BUSINESS - 150_000));
      });

      it('a downgrade takes effect at the next reset only', async () => {
        h.clock.set(Date.UTC(2028, 4, 3));
        const ws = await h.createWorkspace({ plan: 'pro', anchorDay: 20 });
        await charge(ws, 30_000);
        const down = await h.api.admin.workspaces.setPlan({
          workspaceId: ws,
          plan: 'starter',
          reason: 'Downgrade',
          idempotencyKey: key('plan'),
        });
        expect(down).toEqual({
          plan: 'pro',
          pendingPlan: 'starter',
          effective: 'next_reset',
          toppedUp: 0,
        });
        const during = await h.api.admin.workspaces.get({ workspaceId: ws });
        expect(during.workspace).toMatchObject({ plan: 'pro', features: ['video_edit'] });
        h.clock.set(Date.UTC(2028, 4, 20) - 1);
        expect(await aiWallet(ws)).toMatchObject({
          balance: PRO - 30_000,
          cycle: { usedThisCycle: 30_000, planLimit: PRO, resetsAt: Date.UTC(2028, 4, 20) },
        });
        expect(await h.allowanceLots(ws)).toHaveLength(1);

        h.clock.set(Date.UTC(2028, 4, 20));
        expect(await aiWallet(ws)).toMatchObject({
          balance: STARTER,
          cycle: { usedThisCycle: 0, planLimit: STARTER, resetsAt: Date.UTC(2028, 5, 20) },
        });
        expect((await h.api.admin.workspaces.get({ workspaceId: ws })).workspace).toMatchObject({
          plan: 'starter',
          features: [],
        });
        // And it stays: the next cycle is Starter's too, the change applied once.
        h.clock.set(Date.UTC(2028, 5, 20));
        h.forgetCycle();
        expect((await h.sweep()).failures).toEqual([]);
        expect((await h.allowanceLots(ws)).map((l) => [l.cycleKey, l.granted])).toEqual([
          ['2028-04-20', PRO],
          ['2028-05-20', STARTER],
          ['2028-06-20', STARTER],
        ]);
        const applied = await h.api.admin.audit.list({
          workspaceId: ws,
          action: 'workspace.plan.apply_pending',
        });
        expect(applied.items).toHaveLength(1);
      });

      it('buying or granting a pack never changes the plan, a pending downgrade or the AI Tokens cycle', async () => {
        h.clock.set(Date.UTC(2028, 6, 9, 8));
        const ws = await h.createWorkspace({ plan: 'pro', anchorDay: 9 });
        await h.api.admin.workspaces.setPlan({
          workspaceId: ws,
          plan: 'starter',
          reason: 'Downgrade',
          idempotencyKey: key('plan'),
        });
        const before = {
          workspace: (await h.api.admin.workspaces.get({ workspaceId: ws })).workspace,
          pending: await h.store.billing.pendingPlan(ws),
          ai: await aiWallet(ws),
          aiLots: await h.store.lots({ workspaceId: ws, wallet: 'ai_tokens' }),
          video: await h.api.wallets.get({ workspaceId: ws, wallet: 'video_credits' }),
        };
        expect(before.pending).toBe('starter');

        // A paid image pack, from checkout to the provider's event …
        const checkout = await h.api.billing.checkout({
          workspaceId: ws,
          packId: 'image-500',
          idempotencyKey: key('checkout'),
        });
        const paid = await h.store.billing.applyPaymentEvent({
          provider: 'sandbox',
          eventId: key('evt'),
          type: 'checkout.paid',
          session: `cs_${checkout.orderId}`,
          outcome: 'paid',
          payment: await paymentOf(h.store, checkout.orderId),
          now: h.clock.now(),
        });
        expect(paid.result).toBe('paid');
        // … and a manual pack grant.
        await h.api.admin.ledger.grant({
          workspaceId: ws,
          wallet: 'video_credits',
          amount: 200,
          source: 'purchase',
          reason: 'Pack by hand',
          idempotencyKey: key('grant'),
        });

        expect(
          (await h.api.wallets.get({ workspaceId: ws, wallet: 'image_credits' })).balance,
        ).toBe(500);
        expect(
          (await h.api.wallets.get({ workspaceId: ws, wallet: 'video_credits' })).balance,
        ).toBe(before.video.balance + 200);
        expect((await h.api.admin.workspaces.get({ workspaceId: ws })).workspace).toEqual(
          before.workspace,
        );
        expect(await h.store.billing.pendingPlan(ws)).toBe('starter');
        expect(await aiWallet(ws)).toEqual(before.ai);
        expect(await h.store.lots({ workspaceId: ws, wallet: 'ai_tokens' })).toEqual(before.aiLots);
        const audit = await h.api.admin.audit.list({ workspaceId: ws });
        expect(audit.items.filter((a) => a.action.startsWith('workspace.plan'))).toHaveLength(1);
      });
    });
  });
}
