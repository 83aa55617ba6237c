import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, type TestStore } from './dialects.js';
import { T0, grant, priced, workspace, write } from './fixtures.js';

const MINUTE = 60_000;

describe.each(DIALECTS)('API key use and spend ($name)', (d) => {
  let t: TestStore;
  beforeEach(async (ctx) => {
    if (d.skip) ctx.skip();
    t = await d.make();
  });
  afterEach(async () => {
    await t?.cleanup();
  });

  async function makeKey(workspaceId: string, id: string) {
    return t.store.accounts.createApiKey({
      id,
      keyHash: `hash-${id}`,
      prefix: 'cw_ws_abc',
      kind: 'workspace',
      workspaceId,
      scopes: ['usage:write'],
      name: id,
      createdBy: 'user:u1',
      now: T0,
      audit: { actor: 'user:u1', action: 'api_key.create', target: '' },
    });
  }

  it('records the last use at most once a minute, and never on a revoked key', async () => {
    const ws = await workspace(t.store);
    const made = await makeKey(ws.id, 'key_a');
    expect(made.lastUsedAt).toBeNull();
    await t.store.accounts.touchApiKey({ id: 'key_a', now: T0 + 1000 });
    await t.store.accounts.touchApiKey({ id: 'key_a', now: T0 + 30_000 });
    let [k] = await t.store.accounts.apiKeys({ workspaceId: ws.id });
    expect(k!.lastUsedAt).toBe(T0 + 1000);
    await t.store.accounts.touchApiKey({ id: 'key_a', now: T0 + 2 * MINUTE });
    [k] = await t.store.accounts.apiKeys({ workspaceId: ws.id });
    expect(k!.lastUsedAt).toBe(T0 + 2 * MINUTE);
    await t.store.accounts.revokeApiKey({
      id: 'key_a',
      workspaceId: ws.id,
      now: T0 + 3 * MINUTE,
      audit: { actor: 'user:u1', action: 'api_key.revoke', target: '' },
    });
    await t.store.accounts.touchApiKey({ id: 'key_a', now: T0 + 10 * MINUTE });
    [k] = await t.store.accounts.apiKeys({ workspaceId: ws.id });
    expect(k!.lastUsedAt).toBe(T0 + 2 * MINUTE);
  });

  it("sums each key's finished jobs per wallet, leaving out holds still open and other workspaces", async () => {
    const ws = await workspace(t.store);
    const other = await workspace(t.store);
    await makeKey(ws.id, 'key_a');
    await grant(t.store, ws.id, 1000, { wallet: 'image_credits' });
    await grant(t.store, ws.id, 1000);
    await grant(t.store, other.id, 1000);
    const asKey = (wsId: string) => ({ ...write(wsId), actor: 'key:key_a' });
    await t.store.charge({ ...asKey(ws.id), priced: priced(30, { wallet: 'image_credits' }) });
    await t.store.charge({ ...asKey(ws.id), priced: priced(12, { wallet: 'image_credits' }) });
    await t.store.charge({ ...asKey(ws.id), priced: priced(50) });
    await t.store.reserve({ ...asKey(ws.id), priced: priced(70), ttlMs: 3_600_000 });
    await t.store.charge({ ...asKey(other.id), priced: priced(5) });
    await t.store.charge({ ...write(ws.id), priced: priced(9) });
    expect(await t.store.accounts.apiKeySpend({ workspaceId: ws.id })).toEqual([
      { keyId: 'key_a', wallet: 'image_credits', spent: 42 },
      { keyId: 'key_a', wallet: 'video_credits', spent: 50 },
    ]);
  });
});
