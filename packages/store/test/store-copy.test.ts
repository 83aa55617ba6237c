import { afterEach, describe, expect, it } from 'vitest';
import { copyStore } from '../src/store-copy.js';
import type { LedgerStore } from '../src/ledger-store.js';
import { DIALECTS, type TestStore } from './dialects.js';
import { T0, grant, priced, workspace, write } from './fixtures.js';

const HOUR = 3_600_000;

/** A store with a bit of everything: lots, holds open and settled, charges, expiry, rules. */
async function populate(store: LedgerStore) {
  const ws = await workspace(store);
  await grant(store, ws.id, 500);
  await grant(store, ws.id, 50, { source: 'trial', restriction: 'trial' });
  await grant(store, ws.id, 30, { source: 'promo', expiresAt: T0 + HOUR });
  await grant(store, ws.id, 200, { wallet: 'image_credits' });
  const open = await store.reserve({ ...write(ws.id), priced: priced(40), ttlMs: 10 * HOUR });
  const done = await store.reserve({ ...write(ws.id), priced: priced(60), ttlMs: 10 * HOUR });
  await store.capture({ ...write(ws.id), holdId: done.holdId, credits: 45 });
  await store.charge({ ...write(ws.id), priced: priced(25, { wallet: 'image_credits' }) });
  await store.expireLots({ now: T0 + 2 * HOUR });
  await store.publishRules({
    document: { hello: 'rules' },
    createdBy: 'test',
    reason: 'seed',
    now: T0,
  });
  await store.accounts.audit({ actor: 'test', action: 'test.action', target: 'x', now: T0 });
  return { ws, open };
}

async function picture(store: LedgerStore, workspaceId: string) {
  const history = await store.history({ workspaceId, limit: 200 });
  return {
    wallets: (await store.wallets(workspaceId)).sort((a, b) => a.kind.localeCompare(b.kind)),
    history: history.items.map(({ id: _id, ...e }) => e),
    lots: await store.lots({ workspaceId }),
    jobs: (await store.jobs({ workspaceId, limit: 50 })).items,
    rules: (await store.activeRules())?.document,
  };
}

describe('store copy', () => {
  const cleanups: TestStore[] = [];
  afterEach(async () => {
    for (const t of cleanups.splice(0)) await t.cleanup();
  });

  // The copy tool opens both stores in its own thread (the CLI); the worker-thread store is
  // the same SQLite adapter, covered by the `sqlite` target.
  for (const target of DIALECTS.filter((d) => d.name !== 'sqlite-worker')) {
    it.skipIf(target.skip !== null)(
      `copies a SQLite installation with history to ${target.name}, which serves the same wallets, history and totals`,
      async () => {
        const from = await DIALECTS[0]!.make();
        const to = await target.make();
        cleanups.push(from, to);
        const src = from.store as LedgerStore;
        const dst = to.store as LedgerStore;
        const { ws, open } = await populate(src);
        const before = await picture(src, ws.id);
        const { rows, verify } = await copyStore({ from: src, to: dst });
        expect(verify.violations).toEqual([]);
        expect(rows.ledger_entries).toBe(before.history.length);
        expect(await picture(dst, ws.id)).toEqual(before);
        // The copy is a working ledger: the open hold settles there, new entries get new ids.
        const settled = await dst.release({ ...write(ws.id), holdId: open.holdId });
        expect(settled.returned).toBe(40);
        const [latest] = (await dst.history({ workspaceId: ws.id, limit: 1 })).items;
        expect(latest?.type).toBe('return');
        expect((await dst.verify()).violations).toEqual([]);
      },
    );
  }

  it('refuses a target that already holds an installation, and leaves it as it was', async () => {
    const from = await DIALECTS[0]!.make();
    const to = await DIALECTS[0]!.make();
    cleanups.push(from, to);
    await populate(from.store as LedgerStore);
    const existing = await workspace(to.store);
    await expect(
      copyStore({ from: from.store as LedgerStore, to: to.store as LedgerStore }),
    ).rejects.toThrow(/not empty/);
    expect(await to.store.listWorkspaceIds()).toEqual([existing.id]);
  });
});
