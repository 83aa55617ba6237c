import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type pg from 'pg';
import { CreditsError } from '@credits/domain';
import { LedgerStore } from '../src/ledger-store.js';
import { PostgresDriver } from '../src/postgres/postgres-driver.js';
import { T0, grant, key, priced, workspace } from './fixtures.js';
import { adminClient, commitDroppingProxy, ownDatabase, terminateBackends } from './pg-faults.js';

/**
 * Issue 11: on PostgreSQL a dropped connection costs one request at most, never the process.
 * Every test runs on a database of its own and terminates only that database's backends.
 */
const PG_URL = process.env.TEST_DATABASE_URL ?? '';

const reasonOf = (e: unknown) => (e instanceof CreditsError ? e.reason : String(e));

describe.skipIf(!PG_URL)('PostgreSQL connection loss', () => {
  let db: Awaited<ReturnType<typeof ownDatabase>>;
  let admin: pg.Client;
  let store: LedgerStore;
  let driver: PostgresDriver;
  const lost: Error[] = [];

  beforeAll(async () => {
    db = await ownDatabase(PG_URL);
    admin = await adminClient(PG_URL);
    driver = await PostgresDriver.open({
      url: db.url,
      max: 6,
      lockTimeoutMs: 300,
      onConnectionError: (e) => lost.push(e),
    });
    store = new LedgerStore(driver);
    await store.migrate();
  });
  afterAll(async () => {
    await store?.close();
    await admin?.end();
    await db?.drop();
  });

  it('idle connections terminated: the process lives, the pool heals, the next request works', async () => {
    const ws = await workspace(store);
    await grant(store, ws.id, 100);
    // Open several connections, then kill them all while idle in the pool.
    await Promise.all(Array.from({ length: 6 }, () => store.wallets(ws.id)));
    const killed = await terminateBackends(admin, db.name, { state: 'idle' });
    expect(killed).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 200));
    expect(lost.length).toBeGreaterThan(0);
    const r = await store.charge({
      workspaceId: ws.id,
      actor: 'test',
      now: T0,
      idempotencyKey: key(),
      requestHash: 'h',
      priced: priced(10),
    });
    expect(r.balance).toBe(90);
    expect((await store.wallets(ws.id)).find((w) => w.kind === 'video_credits')?.available).toBe(
      90,
    );
  });

  it('backends killed every 20 ms under 100 charges: every answer a success or STORE_UNAVAILABLE, retries apply once', async () => {
    const ws = await workspace(store);
    await grant(store, ws.id, 100_000);
    const calls = Array.from({ length: 100 }, (_, i) => ({
      key: `kill-${i}-${key()}`,
      credits: 1 + (i % 7),
    }));
    let stop = false;
    let kills = 0;
    const killer = (async () => {
      while (!stop) {
        kills += await terminateBackends(admin, db.name, { limit: 2 });
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const charge = (c: (typeof calls)[number]) =>
      store.charge({
        workspaceId: ws.id,
        actor: 'test',
        now: T0,
        idempotencyKey: c.key,
        requestHash: `h${c.credits}`,
        priced: priced(c.credits),
      });
    const first: string[] = [];
    const answers = new Map<string, number>();
    // 10 clients at a time, each call once under fire.
    for (let i = 0; i < calls.length; i += 10) {
      const batch = calls.slice(i, i + 10);
      const outs = await Promise.allSettled(batch.map(charge));
      outs.forEach((o, j) => {
        if (o.status === 'fulfilled') answers.set(batch[j]!.key, o.value.credits);
        else first.push(reasonOf(o.reason));
      });
    }
    stop = true;
    await killer;
    expect(kills).toBeGreaterThan(0);
    // Nothing but STORE_UNAVAILABLE, and each carries the retry-is-safe message.
    expect(first.filter((r) => r !== 'STORE_UNAVAILABLE')).toEqual([]);
    // Every call again with its key (the ones that succeeded too): same answers, one effect.
    for (const c of calls) {
      const again = await charge(c);
      expect(again.credits).toBe(c.credits);
      if (answers.has(c.key)) expect(answers.get(c.key)).toBe(c.credits);
    }
    const spent = calls.reduce((t, c) => t + c.credits, 0);
    const video = (await store.wallets(ws.id)).find((w) => w.kind === 'video_credits')!;
    expect(video.available).toBe(100_000 - spent);
    const report = await store.verify();
    expect(report.violations).toEqual([]);
    console.log(
      `connection loss: ${kills} backends killed, ${first.length} of ${calls.length} calls answered STORE_UNAVAILABLE first, 0 applied twice`,
    );
  });

  it('a wallet row locked elsewhere: STORE_UNAVAILABLE within the lock timeout, then the retry succeeds', async () => {
    const ws = await workspace(store);
    await grant(store, ws.id, 100);
    const holder = await adminClient(db.url);
    try {
      await holder.query('BEGIN');
      await holder.query(
        `SELECT available FROM wallets WHERE workspace_id = $1 AND kind = 'video_credits' FOR UPDATE`,
        [ws.id],
      );
      const input = {
        workspaceId: ws.id,
        actor: 'test',
        now: T0,
        idempotencyKey: key(),
        requestHash: 'h',
        priced: priced(5),
      };
      const started = Date.now();
      const err = await store.charge(input).then(
        () => null,
        (e: unknown) => e,
      );
      const waited = Date.now() - started;
      expect(reasonOf(err)).toBe('STORE_UNAVAILABLE');
      expect((err as Error).message).toMatch(/same idempotency key is safe/);
      expect(waited).toBeLessThan(3000);
      await holder.query('ROLLBACK');
      expect((await store.charge(input)).balance).toBe(95);
    } finally {
      await holder.end();
    }
  });

  it('the ambiguous commit: the answer to COMMIT lost after the server committed; the retry with the same key replays, never applies twice', async () => {
    const u = new URL(db.url);
    const proxy = await commitDroppingProxy({ host: u.hostname, port: Number(u.port || 5432) });
    const viaProxy = new URL(db.url);
    viaProxy.port = String(proxy.port);
    const proxied = new LedgerStore(
      await PostgresDriver.open({ url: viaProxy.toString(), max: 2 }),
    );
    try {
      const ws = await workspace(proxied);
      await grant(proxied, ws.id, 100);
      // A grant: an ordinary transaction with a COMMIT of its own (reserves and charges go as
      // one statement in autocommit, see postgres/one-statement.ts).
      const input = {
        workspaceId: ws.id,
        wallet: 'video_credits' as const,
        amount: 30,
        source: 'purchase' as const,
        description: 'Test grant',
        actor: 'test',
        now: T0,
        idempotencyKey: key(),
        requestHash: 'h',
      };
      proxy.dropNextCommitAnswer();
      const err = await proxied.grant(input).then(
        () => null,
        (e: unknown) => e,
      );
      expect(proxy.dropped()).toBe(1);
      expect(reasonOf(err)).toBe('STORE_UNAVAILABLE');
      expect((err as CreditsError).details).toMatchObject({ cause: 'committing' });
      expect((err as Error).message).toMatch(/may or may not have taken effect/);
      // It did commit: the balance moved once.
      const wallet = async () =>
        (await store.wallets(ws.id)).find((w) => w.kind === 'video_credits')!.available;
      expect(await wallet()).toBe(130);
      const retry = await proxied.grant(input);
      expect(retry.balance).toBe(130);
      expect(await wallet()).toBe(130);
      const grants = await store.history({ workspaceId: ws.id, types: ['purchase'], limit: 10 });
      expect(grants.items).toHaveLength(2);
    } finally {
      await proxied.close();
      await proxy.close();
    }
  });
});
