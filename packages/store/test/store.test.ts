import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DIALECTS, type TestStore } from './dialects.js';
import { T0, grant, key, outcome, priced, workspace, write } from './fixtures.js';

const HOUR = 3_600_000;

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`store on ${dialect.name}`, () => {
    let t: TestStore;
    beforeEach(async () => {
      t = await dialect.make();
    });
    afterEach(async () => {
      // Every test leaves SPEC 13's invariants true.
      const report = await t.store.verify();
      expect(report.violations).toEqual([]);
      await t.cleanup();
    });

    it('grants, reserves, captures part and returns the rest', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 100);
      const hold = await t.store.reserve({ ...write(ws.id), priced: priced(60), ttlMs: HOUR });
      expect(hold).toMatchObject({ credits: 60, balance: 40, held: 60 });
      const done = await t.store.capture({ ...write(ws.id), holdId: hold.holdId, credits: 45 });
      expect(done).toMatchObject({
        status: 'completed',
        captured: 45,
        returned: 15,
        balance: 55,
        held: 0,
      });
      const wallets = await t.store.wallets(ws.id);
      expect(wallets.find((w) => w.kind === 'video_credits')).toEqual({
        kind: 'video_credits',
        available: 55,
        held: 0,
      });
      const history = await t.store.history({ workspaceId: ws.id, limit: 10 });
      expect(history.items.map((e) => [e.type, e.amount, e.balanceAfter])).toEqual([
        ['return', 15, 55],
        ['spend', -45, 40],
        ['hold', -60, 40],
        ['purchase', 100, 100],
      ]);
    });

    it('release returns everything and marks the job failed', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 30);
      const hold = await t.store.reserve({ ...write(ws.id), priced: priced(30), ttlMs: HOUR });
      const r = await t.store.release({ ...write(ws.id), holdId: hold.holdId });
      expect(r).toMatchObject({ status: 'failed', returned: 30, balance: 30, held: 0 });
      const jobs = await t.store.jobs({ workspaceId: ws.id, limit: 5 });
      expect(jobs.items[0]).toMatchObject({ status: 'failed', captured: 0, held: 30 });
    });

    it('refuses a reserve it cannot cover, whole, and changes nothing', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 40);
      const r = await outcome(
        t.store.reserve({ ...write(ws.id), priced: priced(50), ttlMs: HOUR }),
      );
      expect(r).toEqual({ ok: false, reason: 'INSUFFICIENT_CREDITS' });
      const e = await t.store
        .reserve({ ...write(ws.id), priced: priced(50, { wallet: 'image_credits' }), ttlMs: HOUR })
        .catch((err: { details: unknown }) => err.details);
      expect(e).toMatchObject({ needed: 50, available: 0, action: 'buy_image_credits' });
      expect((await t.store.history({ workspaceId: ws.id, limit: 10 })).items).toHaveLength(1);
    });

    it('capture above the hold is refused and the hold stays open', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 100);
      const hold = await t.store.reserve({ ...write(ws.id), priced: priced(50), ttlMs: HOUR });
      const r = await outcome(
        t.store.capture({ ...write(ws.id), holdId: hold.holdId, credits: 51 }),
      );
      expect(r).toEqual({ ok: false, reason: 'CAPTURE_EXCEEDS_HOLD' });
      expect((await t.store.getJob({ workspaceId: ws.id, jobId: hold.holdId }))?.status).toBe(
        'reserved',
      );
    });

    it('a hold of another workspace is not found', async () => {
      const a = await workspace(t.store);
      const b = await workspace(t.store);
      await grant(t.store, a.id, 10);
      const hold = await t.store.reserve({ ...write(a.id), priced: priced(10), ttlMs: HOUR });
      expect(await outcome(t.store.capture({ ...write(b.id), holdId: hold.holdId }))).toEqual({
        ok: false,
        reason: 'HOLD_NOT_FOUND',
      });
    });

    it('spends trial lots only for jobs the trial accepts, soonest expiry first', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 50, { source: 'trial', restriction: 'trial' });
      await grant(t.store, ws.id, 100, { source: 'purchase' });
      await grant(t.store, ws.id, 20, { source: 'promo', expiresAt: T0 + 10 * HOUR });
      // A job the trial does not accept: promo (expires first) then purchase; trial untouched.
      const a = await t.store.charge({ ...write(ws.id), priced: priced(30) });
      const lots = await t.store.lots({ workspaceId: ws.id });
      const bySource = Object.fromEntries(lots.map((l) => [l.source, l.remaining]));
      expect(bySource).toEqual({ trial: 50, purchase: 90, promo: 0 });
      expect(a.lots.map((l) => l.amount)).toEqual([20, 10]);
      // A trial-accepted job: the trial lot (no expiry, trial ranks before purchase) pays.
      await t.store.charge({ ...write(ws.id), priced: priced(50, { restrictions: ['trial'] }) });
      const after = Object.fromEntries(
        (await t.store.lots({ workspaceId: ws.id })).map((l) => [l.source, l.remaining]),
      );
      expect(after).toEqual({ trial: 0, purchase: 90, promo: 0 });
    });

    it('expires a lot once, whoever finds it first', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 40, { source: 'promo', expiresAt: T0 + HOUR });
      await grant(t.store, ws.id, 10);
      const later = T0 + 2 * HOUR;
      const [a, b] = await Promise.all([
        t.store.expireLots({ now: later }),
        t.store.charge({ ...write(ws.id, later), priced: priced(5) }),
      ]);
      expect(a === 40 || a === 0).toBe(true);
      expect(b.balance).toBe(5);
      expect(await t.store.expireLots({ now: later })).toBe(0);
      const expired = await t.store.history({ workspaceId: ws.id, types: ['expire'], limit: 10 });
      expect(expired.items.map((e) => e.amount)).toEqual([-40]);
    });

    it('returned credits whose lot expired meanwhile expire at once', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 50, { source: 'promo', expiresAt: T0 + HOUR });
      const hold = await t.store.reserve({ ...write(ws.id), priced: priced(50), ttlMs: 2 * HOUR });
      const r = await t.store.release({ ...write(ws.id, T0 + HOUR + 1), holdId: hold.holdId });
      expect(r).toMatchObject({ returned: 0, expired: 50, balance: 0, held: 0 });
    });

    it('the sweeper expires holds past their TTL and returns their credits', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 80);
      const hold = await t.store.reserve({ ...write(ws.id), priced: priced(80), ttlMs: HOUR });
      expect(await t.store.expireHolds({ now: T0 + HOUR - 1 })).toBe(0);
      expect(await t.store.expireHolds({ now: T0 + HOUR })).toBe(1);
      expect((await t.store.getJob({ workspaceId: ws.id, jobId: hold.holdId }))?.status).toBe(
        'expired',
      );
      expect(
        await outcome(t.store.capture({ ...write(ws.id, T0 + HOUR), holdId: hold.holdId })),
      ).toEqual({
        ok: false,
        reason: 'HOLD_SETTLED',
      });
      expect(
        (await t.store.wallets(ws.id)).find((w) => w.kind === 'video_credits')?.available,
      ).toBe(80);
    });

    it('500 concurrent reserves against a balance for 100: exactly 100 succeed', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 1000);
      const results = await Promise.all(
        Array.from({ length: 500 }, () =>
          outcome(t.store.reserve({ ...write(ws.id), priced: priced(10), ttlMs: HOUR })),
        ),
      );
      const ok = results.filter((r) => r.ok).length;
      const refused = results.filter((r) => !r.ok && r.reason === 'INSUFFICIENT_CREDITS').length;
      expect([ok, refused]).toEqual([100, 400]);
      const w = (await t.store.wallets(ws.id)).find((x) => x.kind === 'video_credits');
      expect(w).toEqual({ kind: 'video_credits', available: 0, held: 1000 });
    });

    it('one idempotency key sent 50 times at once takes effect once; all get the same answer', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 100);
      const same = { ...write(ws.id), priced: priced(7), ttlMs: HOUR };
      const answers = await Promise.all(Array.from({ length: 50 }, () => t.store.reserve(same)));
      expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
      expect((await t.store.wallets(ws.id)).find((w) => w.kind === 'video_credits')).toMatchObject({
        available: 93,
        held: 7,
      });
      // Same key, another body: a conflict, and nothing moves.
      const other = await outcome(
        t.store.reserve({ ...same, requestHash: 'other', priced: priced(8) }),
      );
      expect(other).toEqual({ ok: false, reason: 'IDEMPOTENCY_CONFLICT' });
      // Keys are per workspace: the same key elsewhere is a new request.
      const ws2 = await workspace(t.store);
      await grant(t.store, ws2.id, 10);
      await expect(t.store.reserve({ ...same, workspaceId: ws2.id })).resolves.toMatchObject({
        credits: 7,
      });
    });

    it('a failed request leaves its key free for a retry', async () => {
      const ws = await workspace(t.store);
      const req = { ...write(ws.id), priced: priced(10), ttlMs: HOUR };
      expect(await outcome(t.store.reserve(req))).toEqual({
        ok: false,
        reason: 'INSUFFICIENT_CREDITS',
      });
      await grant(t.store, ws.id, 10);
      await expect(t.store.reserve(req)).resolves.toMatchObject({ credits: 10, balance: 0 });
    });

    it('a hold settles once when capture, release and expiry race', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 1000);
      for (let round = 0; round < 20; round++) {
        const hold = await t.store.reserve({ ...write(ws.id), priced: priced(50), ttlMs: HOUR });
        const [c, r, e] = await Promise.all([
          outcome(t.store.capture({ ...write(ws.id), holdId: hold.holdId, credits: 30 })),
          outcome(t.store.release({ ...write(ws.id), holdId: hold.holdId })),
          t.store.expireHolds({ now: T0 + HOUR }),
        ]);
        const winners = [c.ok, r.ok, e === 1].filter(Boolean).length;
        expect(winners).toBe(1);
        for (const x of [c, r]) if (!x.ok) expect(x.reason).toBe('HOLD_SETTLED');
      }
      const w = (await t.store.wallets(ws.id)).find((x) => x.kind === 'video_credits');
      expect(w?.held).toBe(0);
    });

    it('history pages stay stable while entries arrive', async () => {
      const ws = await workspace(t.store);
      for (let i = 0; i < 25; i++) await grant(t.store, ws.id, i + 1);
      const first = await t.store.history({ workspaceId: ws.id, limit: 10 });
      // New entries arrive between pages.
      for (let i = 0; i < 5; i++) await grant(t.store, ws.id, 100);
      const seen = [...first.items];
      let cursor = first.nextCursor;
      while (cursor) {
        const page = await t.store.history({ workspaceId: ws.id, limit: 10, cursor });
        seen.push(...page.items);
        cursor = page.nextCursor;
      }
      expect(seen.map((e) => e.amount)).toEqual(Array.from({ length: 25 }, (_, i) => 25 - i));
      const filtered = await t.store.history({
        workspaceId: ws.id,
        wallet: 'image_credits',
        limit: 10,
      });
      expect(filtered.items).toEqual([]);
      await expect(
        t.store.history({ workspaceId: ws.id, limit: 10, cursor: 'bogus' }),
      ).rejects.toMatchObject({
        reason: 'VALIDATION',
      });
    });

    it('random sequences of writes keep every invariant and match a model', async () => {
      const op = fc.oneof(
        fc.record({
          t: fc.constant('grant' as const),
          n: fc.integer({ min: 1, max: 200 }),
          trial: fc.boolean(),
          exp: fc.option(fc.integer({ min: 1, max: 5 })),
        }),
        fc.record({
          t: fc.constant('reserve' as const),
          n: fc.integer({ min: 0, max: 150 }),
          trial: fc.boolean(),
        }),
        fc.record({
          t: fc.constant('charge' as const),
          n: fc.integer({ min: 0, max: 150 }),
          trial: fc.boolean(),
        }),
        fc.record({
          t: fc.constant('capture' as const),
          pick: fc.nat(),
          frac: fc.integer({ min: 0, max: 100 }),
        }),
        fc.record({ t: fc.constant('release' as const), pick: fc.nat() }),
        fc.record({ t: fc.constant('tick' as const), hours: fc.integer({ min: 1, max: 3 }) }),
      );
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
          const ws = await workspace(t.store);
          let now = T0;
          const open: { id: string; held: number }[] = [];
          for (const o of ops) {
            switch (o.t) {
              case 'grant':
                await grant(t.store, ws.id, o.n, {
                  source: o.trial ? 'trial' : 'purchase',
                  restriction: o.trial ? 'trial' : null,
                  expiresAt: o.exp === null ? null : now + o.exp * HOUR,
                  now,
                });
                break;
              case 'reserve': {
                const r = await outcome(
                  t.store.reserve({
                    ...write(ws.id, now),
                    priced: priced(o.n, { restrictions: o.trial ? ['trial'] : [] }),
                    ttlMs: 2 * HOUR,
                  }),
                );
                if (r.ok) open.push({ id: r.value.holdId, held: r.value.credits });
                else expect(r.reason).toBe('INSUFFICIENT_CREDITS');
                break;
              }
              case 'charge': {
                const r = await outcome(
                  t.store.charge({
                    ...write(ws.id, now),
                    priced: priced(o.n, { restrictions: o.trial ? ['trial'] : [] }),
                  }),
                );
                if (!r.ok) expect(r.reason).toBe('INSUFFICIENT_CREDITS');
                break;
              }
              case 'capture':
              case 'release': {
                if (open.length === 0) break;
                const [h] = open.splice(o.pick % open.length, 1);
                const r =
                  o.t === 'capture'
                    ? await outcome(
                        t.store.capture({
                          ...write(ws.id, now),
                          holdId: h!.id,
                          credits: Math.floor((h!.held * o.frac) / 100),
                        }),
                      )
                    : await outcome(t.store.release({ ...write(ws.id, now), holdId: h!.id }));
                if (!r.ok) expect(r.reason).toBe('HOLD_SETTLED');
                break;
              }
              case 'tick':
                now += o.hours * HOUR;
                await t.store.expireHolds({ now });
                await t.store.expireLots({ now });
                break;
            }
          }
          const report = await t.store.verify();
          expect(report.violations).toEqual([]);
          // The balance the history shows last is the wallet's balance.
          const [last] = (
            await t.store.history({ workspaceId: ws.id, wallet: 'video_credits', limit: 1 })
          ).items;
          const w = (await t.store.wallets(ws.id)).find((x) => x.kind === 'video_credits')!;
          expect(w.available).toBe(last?.balanceAfter ?? 0);
          expect(w.held).toBe(last?.heldAfter ?? 0);
        }),
        { numRuns: dialect.name === 'sqlite' ? 60 : 30 },
      );
    });
  });
}

describe('store suites', () => {
  it('reports which dialects it skipped', () => {
    for (const d of DIALECTS) {
      if (d.skip) console.warn(`[store] SKIPPED the ${d.name} suite: ${d.skip}`);
    }
    expect(DIALECTS.some((d) => d.skip === null)).toBe(true);
  });
});

void key;
