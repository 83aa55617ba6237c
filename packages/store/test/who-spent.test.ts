import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../src/types.js';
import { DIALECTS, type TestStore } from './dialects.js';
import { T0, grant, key, priced, workspace } from './fixtures.js';

const MIN = 60_000;
const as = (workspaceId: string, actor: string, now = T0) => ({
  workspaceId,
  actor,
  now,
  idempotencyKey: key(),
  requestHash: 'h',
});

/**
 * Issue 14, "who spent what": history filtered by the actor a job belongs to, and the spend
 * entries summary groups, attribute a job's entries to whoever reserved or charged it (as
 * spending limits count it), even when another caller settled or refunded it.
 */
async function spendScene(store: Store) {
  const ws = await workspace(store);
  await grant(store, ws.id, 1_000);
  await grant(store, ws.id, 1_000, { wallet: 'image_credits' });
  // Ann reserves 100; a service key captures 60 of it (the entry's own actor is the key).
  const hold = await store.reserve({
    ...as(ws.id, 'user:ann', T0 + MIN),
    priced: priced(100),
    ttlMs: 3_600_000,
  });
  await store.capture({ ...as(ws.id, 'key:svc', T0 + 2 * MIN), holdId: hold.holdId, credits: 60 });
  // Key A charges 30 image credits and 20 video credits; Bob charges 5 video credits.
  await store.charge({
    ...as(ws.id, 'key:key_a', T0 + 3 * MIN),
    priced: priced(30, { wallet: 'image_credits' }),
  });
  const refundable = await store.charge({
    ...as(ws.id, 'key:key_a', T0 + 4 * MIN),
    priced: priced(20),
  });
  await store.charge({ ...as(ws.id, 'user:bob', T0 + 5 * MIN), priced: priced(5) });
  // An admin refunds 10 of key A's video job: the refund belongs to key A too.
  await store.refundJob({
    workspaceId: ws.id,
    jobId: refundable.jobId,
    credits: 10,
    reason: 'Bad frames',
    actor: 'user:admin',
    now: T0 + 6 * MIN,
    idempotencyKey: key(),
    requestHash: 'r',
  });
  return ws;
}

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`who spent what on ${dialect.name}`, () => {
    let t: TestStore;
    beforeEach(async () => {
      t = await dialect.make();
    });
    afterEach(async () => {
      expect((await t.store.verify()).violations).toEqual([]);
      await t.cleanup();
    });

    it("history filtered by actor: a job's entries belong to who reserved or charged it, other entries to their own actor", async () => {
      const ws = await spendScene(t.store);
      const of = async (actor: string) =>
        (await t.store.history({ workspaceId: ws.id, actor, limit: 100 })).items.map(
          (e) => `${e.type} ${e.amount} ${e.actor}`,
        );
      // Ann's hold, its capture by the service key, and the 40 that returned.
      expect(await of('user:ann')).toEqual([
        'return 40 key:svc',
        'spend -60 key:svc',
        'hold -100 user:ann',
      ]);
      expect(await of('key:key_a')).toEqual([
        'refund 10 user:admin',
        'spend -20 key:key_a',
        'spend -30 key:key_a',
      ]);
      expect(await of('user:bob')).toEqual(['spend -5 user:bob']);
      // The service key settled Ann's job but started none: nothing is its own.
      expect(await of('key:svc')).toEqual([]);
      // Grants (here purchases) have no job: they belong to their own actor.
      expect(await of('test')).toEqual(['purchase 1000 test', 'purchase 1000 test']);
      // The filter combines with the others, and pages stay stable.
      const page1 = await t.store.history({ workspaceId: ws.id, actor: 'key:key_a', limit: 2 });
      const page2 = await t.store.history({
        workspaceId: ws.id,
        actor: 'key:key_a',
        limit: 2,
        cursor: page1.nextCursor!,
      });
      expect([...page1.items, ...page2.items].map((e) => e.amount)).toEqual([10, -20, -30]);
      expect(page2.nextCursor).toBeNull();
      const imageOnly = await t.store.history({
        workspaceId: ws.id,
        actor: 'key:key_a',
        wallet: 'image_credits',
        types: ['spend'],
        limit: 100,
      });
      expect(imageOnly.items.map((e) => e.amount)).toEqual([-30]);
    });

    it("spend entries by actor: every spend entry once, with its job's actor; filters by actor, wallet and window", async () => {
      const ws = await spendScene(t.store);
      const all = await t.store.spendLimits.spendByActor({
        workspaceId: ws.id,
        from: T0,
        to: T0 + 10 * MIN,
      });
      expect(all.map((e) => `${e.wallet} ${e.amount} ${e.actor}`)).toEqual([
        'video_credits 60 user:ann',
        'image_credits 30 key:key_a',
        'video_credits 20 key:key_a',
        'video_credits 5 user:bob',
      ]);
      // Exactly the entries the billing summary counts (the same total, spend only).
      const plain = await t.store.billing.spendEntries({
        workspaceId: ws.id,
        from: T0,
        to: T0 + 10 * MIN,
      });
      expect(all.map((e) => [e.wallet, e.amount, e.createdAt])).toEqual(
        plain.map((e) => [e.wallet, e.amount, e.createdAt]),
      );
      const keyA = await t.store.spendLimits.spendByActor({
        workspaceId: ws.id,
        wallet: 'video_credits',
        actor: 'key:key_a',
        from: T0,
        to: T0 + 10 * MIN,
      });
      expect(keyA.map((e) => e.amount)).toEqual([20]);
      // The window is [from, to): Bob's charge at T0 + 5 min is outside [.., T0 + 5 min).
      const early = await t.store.spendLimits.spendByActor({
        workspaceId: ws.id,
        from: T0,
        to: T0 + 5 * MIN,
      });
      expect(early.map((e) => e.actor)).toEqual(['user:ann', 'key:key_a', 'key:key_a']);
      // Another workspace's jobs never leak in.
      const other = await workspace(t.store);
      expect(
        await t.store.spendLimits.spendByActor({
          workspaceId: other.id,
          from: T0,
          to: T0 + 10 * MIN,
        }),
      ).toEqual([]);
    });
  });
}
