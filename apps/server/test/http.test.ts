import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { appRouter } from '@credits/api';
import { DIALECTS } from '@credits/store/testing';
import { ledgerSnapshot, makeTestApp, TEST_METRICS_TOKEN, type TestApp } from './test-app.js';
const metricsAuth = { headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` } };

const video5s = { kind: 'video', type: 'standard', durationSec: 5, resolution: '720p' } as const;
const key = () => `k-${randomUUID()}`;

interface TrpcBody {
  result?: { data: unknown };
  error?: { message: string; data: { code: string; httpStatus: number; reason: string | null } };
}

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`HTTP surface on ${dialect.name}`, () => {
    let t: TestApp;
    let workspaceId: string;
    let holdId: string;

    const authHeader = () => ({ authorization: `Bearer ${t.serviceKey}` });

    /** Call a procedure the way @trpc/client does (non-batched): GET for queries, POST for mutations. */
    async function call(
      path: string,
      input: unknown,
      opts: { method?: 'GET' | 'POST'; headers?: Record<string, string> } = {},
    ): Promise<{ status: number; body: TrpcBody }> {
      const type = (
        appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>
      )[path]?._def.type;
      const method = opts.method ?? (type === 'query' ? 'GET' : 'POST');
      const res =
        method === 'GET'
          ? await t.app.request(
              `/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`,
              { headers: opts.headers ?? {} },
            )
          : await t.app.request(`/trpc/${path}`, {
              method: 'POST',
              headers: { 'content-type': 'application/json', ...(opts.headers ?? {}) },
              body: JSON.stringify(input),
            });
      const text = await res.text();
      let body: TrpcBody = {};
      try {
        body = JSON.parse(text) as TrpcBody;
      } catch {
        // not JSON (e.g. a 413 from the body limit); the status says enough
      }
      return { status: res.status, body };
    }

    const snapshot = () => ledgerSnapshot(t.store, workspaceId);

    beforeEach(async () => {
      t = await makeTestApp({ dialect });
      const created = await call(
        'admin.workspaces.create',
        { name: 'HTTP test', plan: 'pro', idempotencyKey: key() },
        { headers: authHeader() },
      );
      expect(created.status).toBe(200);
      workspaceId = (created.body.result!.data as { workspace: { id: string } }).workspace.id;
      const granted = await call(
        'admin.ledger.grant',
        {
          workspaceId,
          wallet: 'video_credits',
          amount: 500,
          reason: 'Test',
          idempotencyKey: key(),
        },
        { headers: authHeader() },
      );
      expect(granted.status).toBe(200);
      const hold = await call(
        'usage.reserve',
        { workspaceId, job: video5s, idempotencyKey: key() },
        { headers: authHeader() },
      );
      expect(hold.status).toBe(200);
      holdId = (hold.body.result!.data as { holdId: string }).holdId;
    });
    afterEach(async () => {
      const report = await t.store.verify();
      expect(report.violations).toEqual([]);
      await t.cleanup();
    });

    /** A valid input for each procedure, so only the missing key can be the reason for a refusal. */
    const validInput = (path: string): unknown => {
      const inputs: Record<string, unknown> = {
        'wallets.list': { workspaceId },
        'wallets.get': { workspaceId, wallet: 'video_credits' },
        'usage.quote': { workspaceId, job: video5s },
        'usage.reserve': { workspaceId, job: video5s, idempotencyKey: key() },
        'usage.capture': { workspaceId, holdId, idempotencyKey: key() },
        'usage.release': { workspaceId, holdId, idempotencyKey: key() },
        'usage.charge': { workspaceId, job: { kind: 'ai', tokens: 10 }, idempotencyKey: key() },
        'usage.history': { workspaceId },
        'usage.jobs': { workspaceId },
        'admin.workspaces.create': { name: 'Sneaky', plan: 'pro', idempotencyKey: key() },
        'admin.ledger.grant': {
          workspaceId,
          wallet: 'video_credits',
          amount: 1_000,
          reason: 'Free money',
          idempotencyKey: key(),
        },
      };
      return inputs[path] ?? {};
    };
    const procedures = appRouter._def.procedures as unknown as Record<
      string,
      { _def: { meta?: { access?: string } } }
    >;
    const isPublic = (path: string) =>
      path === 'health.check' || procedures[path]?._def.meta?.access === 'public';
    const procedurePaths = () => Object.keys(procedures).filter((p) => !isPublic(p));

    it('/healthz and /readyz answer 200; /readyz answers 503 while shutting down', async () => {
      const health = await t.app.request('/healthz');
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ ok: true });
      const ready = await t.app.request('/readyz');
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ ready: true });
      t.ready.value = false;
      expect((await t.app.request('/readyz')).status).toBe(503);
    });

    it('health.check works without a key', async () => {
      const res = await call('health.check', undefined);
      expect(res.status).toBe(200);
      // The worker-thread store is the SQLite store.
      expect(res.body.result?.data).toMatchObject({
        ok: true,
        store: dialect.name === 'postgres' ? 'postgres' : 'sqlite',
      });
    });

    it('every other procedure without a key is 401 UNAUTHORIZED and changes nothing', async () => {
      // Only health, sign-in/sign-up style procedures and the invitation preview (which needs
      // the invitation's secret token) may be open.
      const open = Object.keys(procedures).filter(isPublic);
      expect(
        open.filter(
          (p) => !p.startsWith('health.') && !p.startsWith('auth.') && p !== 'invitations.preview',
        ),
      ).toEqual([]);
      const paths = procedurePaths();
      expect(paths.length).toBeGreaterThanOrEqual(11);
      const before = await snapshot();
      for (const path of paths) {
        const res = await call(path, validInput(path));
        expect({ path, status: res.status, reason: res.body.error?.data.reason }).toEqual({
          path,
          status: 401,
          reason: 'UNAUTHORIZED',
        });
      }
      expect(await snapshot()).toEqual(before);
    });

    it('a wrong key, a key in the wrong scheme or an empty bearer is 401 and changes nothing', async () => {
      const before = await snapshot();
      const wrong: Record<string, string>[] = [
        { authorization: 'Bearer not-the-key' },
        { authorization: `Bearer ${t.serviceKey}x` },
        { authorization: `Bearer ${t.serviceKey.slice(0, -1)}` },
        { authorization: `Basic ${Buffer.from(`user:${t.serviceKey}`).toString('base64')}` },
        { authorization: t.serviceKey },
        { authorization: 'Bearer ' },
        { 'x-api-key': t.serviceKey },
      ];
      for (const headers of wrong) {
        for (const path of ['admin.ledger.grant', 'usage.reserve', 'wallets.list']) {
          const res = await call(path, validInput(path), { headers });
          expect({
            headers,
            path,
            status: res.status,
            reason: res.body.error?.data.reason,
          }).toEqual({
            headers,
            path,
            status: 401,
            reason: 'UNAUTHORIZED',
          });
        }
      }
      expect(await snapshot()).toEqual(before);
    });

    it('/metrics exposes credits_operations_total after a reserve', async () => {
      const res = await call(
        'usage.reserve',
        { workspaceId, job: video5s, idempotencyKey: key() },
        { headers: authHeader() },
      );
      expect(res.status).toBe(200);
      const metrics = await t.app.request('/metrics', metricsAuth);
      expect(metrics.status).toBe(200);
      const text = await metrics.text();
      // Two reserves: one in beforeEach, one here.
      expect(text).toMatch(/^credits_operations_total\{op="reserve",outcome="ok"\} 2$/m);
      // A refused reserve is counted under its reason.
      await call(
        'usage.reserve',
        { workspaceId, job: { kind: 'image', type: 'logo', count: 1 }, idempotencyKey: key() },
        { headers: authHeader() },
      );
      expect(await (await t.app.request('/metrics', metricsAuth)).text()).toMatch(
        /^credits_operations_total\{op="reserve",outcome="INSUFFICIENT_CREDITS"\} 1$/m,
      );
    });

    it('a body over 256 KB is 413 and changes nothing', async () => {
      const before = await snapshot();
      const input = {
        workspaceId,
        wallet: 'video_credits',
        amount: 5,
        reason: 'x'.repeat(300 * 1024),
        idempotencyKey: key(),
      };
      const res = await call('admin.ledger.grant', input, { headers: authHeader() });
      expect(res.status).toBe(413);
      expect(await snapshot()).toEqual(before);
    });

    it('a batch of 1,000 calls is refused before any procedure runs; a batch of 50 is served', async () => {
      const before = await snapshot();
      const batch = async (n: number) => {
        const body: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) {
          body[i] = {
            workspaceId,
            wallet: 'image_credits',
            amount: 1,
            reason: `batch ${i}`,
            idempotencyKey: key(),
          };
        }
        const paths = Array.from({ length: n }, () => 'admin.ledger.grant').join(',');
        return t.app.request(`/trpc/${paths}?batch=1`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...authHeader() },
          body: JSON.stringify(body),
        });
      };
      const refused = await batch(1_000);
      expect(refused.status).toBe(400);
      expect(await snapshot()).toEqual(before);

      const served = await batch(50);
      expect(served.status).toBe(200);
      const results = (await served.json()) as TrpcBody[];
      expect(results).toHaveLength(50);
      expect(results.every((r) => r.result !== undefined)).toBe(true);
      expect(
        (await t.store.wallets(workspaceId)).find((w) => w.kind === 'image_credits'),
      ).toMatchObject({ available: 50 });
    });

    it('GET on a mutation path is refused and changes nothing; a query may POST (long rule documents) and changes nothing', async () => {
      const before = await snapshot();
      for (const path of [
        'admin.ledger.grant',
        'usage.reserve',
        'usage.capture',
        'usage.release',
        'usage.charge',
        'admin.workspaces.create',
      ]) {
        const res = await call(path, validInput(path), { method: 'GET', headers: authHeader() });
        expect({ path, refused: [400, 405].includes(res.status) }).toEqual({ path, refused: true });
      }
      expect(await snapshot()).toEqual(before);
      const post = await call(
        'wallets.list',
        { workspaceId },
        { method: 'POST', headers: authHeader() },
      );
      expect(post.status).toBe(200);
      expect(await snapshot()).toEqual(before);
    });

    it('bad input over the real app is a 400 with reason VALIDATION and changes nothing', async () => {
      const before = await snapshot();
      for (const amount of [-5, 0, 1.5, 1e20, 'NaN', '100']) {
        const res = await call(
          'admin.ledger.grant',
          { workspaceId, wallet: 'video_credits', amount, reason: 'Bad', idempotencyKey: key() },
          { headers: authHeader() },
        );
        expect({ amount, status: res.status, reason: res.body.error?.data.reason }).toEqual({
          amount,
          status: 400,
          reason: 'VALIDATION',
        });
      }
      const unknownField = await call(
        'usage.reserve',
        { workspaceId, job: video5s, idempotencyKey: key(), free: true },
        { headers: authHeader() },
      );
      expect(unknownField).toMatchObject({
        status: 400,
        body: { error: { data: { reason: 'VALIDATION' } } },
      });
      expect(await snapshot()).toEqual(before);
    });

    it('an expected failure keeps its reason and details on the wire', async () => {
      const res = await call(
        'usage.reserve',
        { workspaceId, job: { kind: 'image', type: 'logo', count: 3 }, idempotencyKey: key() },
        { headers: authHeader() },
      );
      expect(res.status).toBe(412);
      expect(res.body.error?.data).toMatchObject({
        code: 'PRECONDITION_FAILED',
        reason: 'INSUFFICIENT_CREDITS',
        details: { action: 'buy_image_credits', available: 0 },
      });
    });
  });
}
