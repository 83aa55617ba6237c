import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cycleAt, type LimitMode, type LimitScope } from '@credits/domain';
import type { Store } from '../src/types.js';
import { DIALECTS, type TestStore } from './dialects.js';
import { T0, grant, key, outcome, priced, workspace } from './fixtures.js';

const OWNER = { actor: 'user:usr_owner', action: 'test.change' };
const WALLET = 'video_credits' as const;

function setLimit(
  store: Store,
  workspaceId: string,
  l: {
    scope?: LimitScope;
    subjectId?: string | null;
    amount: number;
    mode?: LimitMode;
    thresholds?: number[];
    now?: number;
  },
) {
  return store.spendLimits.set({
    workspaceId,
    wallet: WALLET,
    scope: l.scope ?? 'workspace',
    subjectId: l.subjectId ?? null,
    amount: l.amount,
    mode: l.mode ?? 'hard',
    thresholds: l.thresholds ?? [50, 80, 100],
    now: l.now ?? T0,
    audit: OWNER,
  });
}

function as(workspaceId: string, actor: string, now = T0) {
  return { workspaceId, actor, now, idempotencyKey: key(), requestHash: 'h' };
}

const reserve = (store: Store, ws: string, actor: string, credits: number, now = T0) =>
  store.reserve({ ...as(ws, actor, now), priced: priced(credits), ttlMs: 3_600_000 });
const charge = (store: Store, ws: string, actor: string, credits: number, now = T0) =>
  store.charge({ ...as(ws, actor, now), priced: priced(credits) });

async function refusal(p: Promise<unknown>): Promise<Record<string, unknown> | 'ok'> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    const err = e as { reason?: string; details?: Record<string, unknown> };
    if (err.reason !== 'SPEND_LIMIT_REACHED') throw e;
    return err.details ?? {};
  }
}

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`spending limits enforced on ${dialect.name}`, () => {
    let t: TestStore;
    beforeEach(async () => {
      t = await dialect.make();
    });
    afterEach(async () => {
      expect((await t.store.verify()).violations).toEqual([]);
      await t.cleanup();
    });

    it('300 concurrent reserves against a hard limit allowing K: exactly K succeed; release frees room; the limit resets at the cycle boundary', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 100_000);
      const K = 25;
      await setLimit(t.store, ws.id, { amount: 10 * K });
      const results = await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          refusal(reserve(t.store, ws.id, `user:u${i % 7}`, 10)),
        ),
      );
      const ok = results.filter((r) => r === 'ok').length;
      expect(ok).toBe(K);
      const refused = results.filter((r): r is Record<string, unknown> => r !== 'ok');
      expect(refused).toHaveLength(300 - K);
      const cycle = cycleAt({ anchorDay: ws.billingAnchorDay, now: T0 });
      expect(refused[0]).toMatchObject({
        scope: 'workspace',
        limit: 250,
        used: 0,
        held: 250,
        needed: 10,
        resetsAt: cycle.end,
      });
      const [wallet] = (await t.store.wallets(ws.id)).filter((w) => w.kind === WALLET);
      expect(wallet!.held).toBe(250);

      // Releasing holds frees room: 3 released, exactly 3 more fit.
      const holds = (await t.store.jobs({ workspaceId: ws.id, limit: 100 })).items.filter(
        (j) => j.status === 'reserved',
      );
      for (const h of holds.slice(0, 3))
        await t.store.release({ ...as(ws.id, 'user:u0'), holdId: h.id });
      const again = await Promise.all(
        Array.from({ length: 20 }, () => refusal(reserve(t.store, ws.id, 'user:u1', 10))),
      );
      expect(again.filter((r) => r === 'ok')).toHaveLength(3);

      // Capture every hold: 250 spent this cycle, still nothing more fits.
      const open = (await t.store.jobs({ workspaceId: ws.id, limit: 100 })).items.filter(
        (j) => j.status === 'reserved',
      );
      for (const h of open) await t.store.capture({ ...as(ws.id, 'user:u0'), holdId: h.id });
      expect(await refusal(charge(t.store, ws.id, 'user:u2', 1))).toMatchObject({
        used: 250,
        held: 0,
      });
      expect(await refusal(charge(t.store, ws.id, 'user:u2', 1, cycle.end - 1))).not.toBe('ok');
      // The next cycle starts from nothing (injected clock): K fit again.
      const next = await Promise.all(
        Array.from({ length: 40 }, () => refusal(charge(t.store, ws.id, 'user:u3', 10, cycle.end))),
      );
      expect(next.filter((r) => r === 'ok')).toHaveLength(K);
    });

    it('two keys with limits of their own spend at once: each stops at its own, the workspace total is their sum', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 100_000);
      await setLimit(t.store, ws.id, { scope: 'key', subjectId: 'key_a', amount: 100 });
      await setLimit(t.store, ws.id, { scope: 'key', subjectId: 'key_b', amount: 150 });
      const jobs = Array.from({ length: 60 }, (_, i) =>
        i % 2 === 0
          ? refusal(charge(t.store, ws.id, 'key:key_a', 10))
          : refusal(reserve(t.store, ws.id, 'key:key_b', 10)),
      );
      const results = await Promise.all(jobs);
      const okA = results.filter((r, i) => i % 2 === 0 && r === 'ok').length;
      const okB = results.filter((r, i) => i % 2 === 1 && r === 'ok').length;
      expect([okA, okB]).toEqual([10, 15]);
      const byKey = results.find((r, i) => i % 2 === 0 && r !== 'ok');
      expect(byKey).toMatchObject({ scope: 'key', subjectId: 'key_a', limit: 100, used: 100 });
      const usage = await t.store.spendLimits.usageByActor({
        workspaceId: ws.id,
        wallet: WALLET,
        since: cycleAt({ anchorDay: 15, now: T0 }).start,
      });
      const total = usage.reduce((s, a) => s + a.used + a.held, 0);
      expect(total).toBe(250);
      expect(usage.map((a) => [a.actor, a.used, a.held])).toEqual([
        ['key:key_a', 100, 0],
        ['key:key_b', 0, 150],
      ]);
    });

    it('a workspace limit below both keys’ limits wins', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 100_000);
      await setLimit(t.store, ws.id, { scope: 'key', subjectId: 'key_a', amount: 100 });
      await setLimit(t.store, ws.id, { scope: 'key', subjectId: 'key_b', amount: 150 });
      await setLimit(t.store, ws.id, { amount: 70 });
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, i) =>
          refusal(charge(t.store, ws.id, i % 2 ? 'key:key_b' : 'key:key_a', 10)),
        ),
      );
      expect(results.filter((r) => r === 'ok')).toHaveLength(7);
      expect(results.find((r) => r !== 'ok')).toMatchObject({ scope: 'workspace', limit: 70 });
    });

    it('a member’s limit covers only that member; a limit set mid-cycle counts what was already spent and held', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 10_000);
      await charge(t.store, ws.id, 'user:usr_m', 30);
      await reserve(t.store, ws.id, 'user:usr_m', 20);
      await charge(t.store, ws.id, 'user:usr_other', 500);
      await setLimit(t.store, ws.id, { scope: 'member', subjectId: 'usr_m', amount: 60 });
      expect(await refusal(charge(t.store, ws.id, 'user:usr_m', 11))).toMatchObject({
        scope: 'member',
        subjectId: 'usr_m',
        used: 30,
        held: 20,
        needed: 11,
      });
      expect(await refusal(charge(t.store, ws.id, 'user:usr_m', 10))).toBe('ok');
      expect(await refusal(charge(t.store, ws.id, 'user:usr_other', 1000))).toBe('ok');
      // Removing the limit lets the member spend again.
      await t.store.spendLimits.remove({
        workspaceId: ws.id,
        wallet: WALLET,
        scope: 'member',
        subjectId: 'usr_m',
        now: T0,
        audit: OWNER,
      });
      expect(await refusal(charge(t.store, ws.id, 'user:usr_m', 100))).toBe('ok');
    });

    it('a soft limit never refuses; each threshold alerts once per cycle, with one notification each crossing', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 10_000);
      await setLimit(t.store, ws.id, { amount: 100, mode: 'soft', thresholds: [50, 80, 100] });
      for (let i = 0; i < 15; i++)
        expect(await refusal(charge(t.store, ws.id, 'user:u', 10))).toBe('ok');
      const cycle = cycleAt({ anchorDay: 15, now: T0 });
      const alerts = await t.store.spendLimits.alerts({ workspaceId: ws.id, cycleKey: cycle.key });
      expect(alerts.map((a) => [a.threshold, a.used])).toEqual([
        [50, 50],
        [80, 80],
        [100, 100],
      ]);
      const notes = (await t.store.billing.notifications({ workspaceId: ws.id, limit: 50 })).filter(
        (n) => n.kind === 'limit_threshold',
      );
      expect(notes).toHaveLength(3);
      expect(notes.map((n) => n.message)).toContain(
        'Video Credits: 100% of the soft spending limit of the workspace reached (100 of 100 credits this cycle, open holds included).',
      );
      // The next cycle alerts again, once.
      await charge(t.store, ws.id, 'user:u', 60, cycle.end);
      const nextAlerts = await t.store.spendLimits.alerts({
        workspaceId: ws.id,
        cycleKey: cycleAt({ anchorDay: 15, now: cycle.end }).key,
      });
      expect(nextAlerts.map((a) => a.threshold)).toEqual([50]);
    });

    it('a refused job writes nothing and its key can be used again', async () => {
      const ws = await workspace(t.store);
      await grant(t.store, ws.id, 1000);
      await setLimit(t.store, ws.id, { amount: 10 });
      const call = as(ws.id, 'user:u');
      expect(await outcome(t.store.charge({ ...call, priced: priced(11) }))).toEqual({
        ok: false,
        reason: 'SPEND_LIMIT_REACHED',
      });
      const history = await t.store.history({ workspaceId: ws.id, wallet: WALLET, limit: 50 });
      expect(history.items.map((e) => e.type)).toEqual(['purchase']);
      await setLimit(t.store, ws.id, { amount: 20 });
      expect((await outcome(t.store.charge({ ...call, priced: priced(11) }))).ok).toBe(true);
    });
  });
}
