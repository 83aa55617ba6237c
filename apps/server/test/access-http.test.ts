import { createHash, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqliteDriver, type Driver } from '@credits/store';
import { DIALECTS } from '@credits/store/testing';
import { ledgerSnapshot, makeTestApp, type TestApp } from './test-app.js';

/**
 * SPEC 10 and issue 4 over HTTP, driven with `app.request()`: session cookies, sign-out that
 * revokes, sign-in rate limiting, CSRF and cross-origin defences, no mutations over GET, the
 * batch limit, workspace keys, keys and sessions hashed at rest, CORS closed, security headers.
 */

/** The app's origin as `app.request('/…')` sees it (http://localhost). */
const SELF = 'http://localhost';
const EVIL = 'https://evil.example';
const PASSWORD = 'correct horse battery staple';
const TIMEOUT_MS = 60_000;

interface TrpcBody {
  result?: { data: unknown };
  error?: {
    message: string;
    data?: { code?: string; httpStatus?: number; reason?: string | null };
  };
}
interface Reply {
  status: number;
  headers: Headers;
  body: TrpcBody;
  text: string;
}

const sha256 = (v: string) => createHash('sha256').update(v).digest('base64url');
const uniqueEmail = (label: string) => `${label}-${randomUUID().slice(0, 8)}@example.com`;
const idem = () => `k-${randomUUID()}`;

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`access over HTTP on ${dialect.name}`, () => {
    let t: TestApp;
    beforeEach(async () => {
      t = await makeTestApp({ dialect });
    }, TIMEOUT_MS);
    afterEach(async () => {
      await t.cleanup();
    });

    async function send(
      path: string,
      init: { method?: string; headers?: Record<string, string>; body?: string } = {},
    ): Promise<Reply> {
      const res = await t.app.request(path, init);
      const text = await res.text();
      let body: TrpcBody = {};
      try {
        body = JSON.parse(text) as TrpcBody;
      } catch {
        // not JSON; the status says enough
      }
      return { status: res.status, headers: res.headers, body, text };
    }
    const post = (path: string, input: unknown, headers: Record<string, string> = {}) =>
      send(`/trpc/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(input),
      });
    const get = (path: string, input: unknown, headers: Record<string, string> = {}) =>
      send(
        `/trpc/${path}${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`}`,
        { headers },
      );

    const service = () => ({ authorization: `Bearer ${t.serviceKey}` });
    /** What a same-origin page of the web app sends with its session. */
    const browser = (cookie: string) => ({
      cookie,
      host: 'localhost',
      origin: SELF,
      'x-credits-csrf': '1',
    });

    async function signUp(label = 'owner', headers: Record<string, string> = {}) {
      const email = uniqueEmail(label);
      const r = await post('auth.signUp', { email, password: PASSWORD, name: label }, headers);
      expect(r.status, r.text).toBe(200);
      const setCookie = r.headers.get('set-cookie') ?? '';
      const cookie = /^(__Host-cw_session=[^;]+)/.exec(setCookie)?.[1] ?? '';
      expect(cookie).not.toBe('');
      const data = r.body.result!.data as { user: { id: string }; workspace: { id: string } };
      return { email, cookie, setCookie, userId: data.user.id, workspaceId: data.workspace.id };
    }

    /** Everything a refused request must leave alone. */
    async function state(...workspaceIds: string[]) {
      return {
        ledgers: await Promise.all(workspaceIds.map((ws) => ledgerSnapshot(t.store, ws))),
        auditHead: (await t.store.accounts.auditLog({ limit: 1 })).items[0]?.id ?? null,
        // A refused request opens no write transaction at all.
        writes: t.store.stats().writes,
      };
    }

    const charge = (workspaceId: string) => ({
      workspaceId,
      job: { kind: 'ai', tokens: 100 },
      idempotencyKey: idem(),
    });

    describe('sessions', () => {
      it('sign-up sets a __Host- cookie: HttpOnly, SameSite=Lax, Path=/, Secure even over http (issue 12), that reaches auth.me', async () => {
        const u = await signUp();
        const attrs = u.setCookie.split(';').map((a) => a.trim().toLowerCase());
        expect(attrs).toContain('httponly');
        expect(attrs).toContain('samesite=lax');
        expect(attrs).toContain('path=/');
        expect(attrs).toContain('secure');
        expect(attrs.some((a) => a.startsWith('domain='))).toBe(false);
        expect(attrs.some((a) => a.startsWith('max-age=') && Number(a.slice(8)) > 0)).toBe(true);

        const me = await get('auth.me', undefined, { cookie: u.cookie });
        expect(me.status).toBe(200);
        const data = me.body.result!.data as {
          user: { email: string };
          workspaces: { workspaceId: string; role: string }[];
        };
        expect(data.user.email).toBe(u.email);
        expect(data.workspaces).toEqual([
          expect.objectContaining({ workspaceId: u.workspaceId, role: 'owner' }),
        ]);
        expect(me.text).not.toContain('passwordHash');
      });

      it('the request cannot turn Secure off (no x-forwarded-proto games)', async () => {
        const u = await signUp('secure', { 'x-forwarded-proto': 'http' });
        expect(u.setCookie.split(';').map((a) => a.trim().toLowerCase())).toContain('secure');
        // A cookie without the prefix (set by a subdomain or a plain-http page) is not a session.
        const plain = await get('auth.me', undefined, {
          cookie: u.cookie.replace('__Host-cw_session=', 'cw_session='),
        });
        expect(plain.status).toBe(401);
      });

      it('sign-out clears the cookie and revokes the session: the same cookie is then 401', async () => {
        const u = await signUp();
        const out = await post('auth.signOut', {}, browser(u.cookie));
        expect(out.status, out.text).toBe(200);
        expect(out.headers.get('set-cookie')).toMatch(/^__Host-cw_session=;.*Max-Age=0.*Secure/);

        const me = await get('auth.me', undefined, { cookie: u.cookie });
        expect(me.status).toBe(401);
        expect(me.body.error?.data?.code).toBe('UNAUTHORIZED');
        const again = await post('auth.signOut', {}, browser(u.cookie));
        expect(again.status).toBe(401);
        // The token itself is dead in the store, not just forgotten by the browser.
        const token = u.cookie.slice('__Host-cw_session='.length);
        expect(
          await t.store.accounts.sessionUser({ tokenHash: sha256(token), now: t.clock.now() }),
        ).toBeNull();
      });

      it('a wrong password (or an unknown email) is 401 with the same message and starts no session', async () => {
        const u = await signUp();
        const wrong = await post('auth.signIn', { email: u.email, password: 'not the password' });
        const unknown = await post('auth.signIn', {
          email: uniqueEmail('nobody'),
          password: PASSWORD,
        });
        for (const r of [wrong, unknown]) {
          expect(r.status).toBe(401);
          expect(r.body.error?.data?.code).toBe('UNAUTHORIZED');
          expect(r.headers.get('set-cookie')).toBeNull();
        }
        expect(wrong.body.error?.message).toBe(unknown.body.error?.message);

        const right = await post('auth.signIn', { email: u.email, password: PASSWORD });
        expect(right.status).toBe(200);
        expect(right.headers.get('set-cookie')).toMatch(
          /^__Host-cw_session=[^;]+; Path=\/; HttpOnly; SameSite=Lax/,
        );
        expect(right.text).not.toContain('scrypt');
      });

      it(
        'sign-in is rate-limited after repeated failures (TOO_MANY_REQUESTS, RATE_LIMITED), even with the right password or another X-Forwarded-For',
        async () => {
          const u = await signUp();
          // 5 wrong passwords lock the account (issue 12; apps/server/test/limits.test.ts).
          for (let i = 0; i < 5; i++) {
            const r = await post('auth.signIn', { email: u.email, password: `wrong-${i}` });
            expect(r.status).toBe(401);
          }
          for (const headers of [{}, { 'x-forwarded-for': '203.0.113.77' }] as Record<
            string,
            string
          >[]) {
            const r = await post('auth.signIn', { email: u.email, password: PASSWORD }, headers);
            expect(r.status).toBe(429);
            expect(r.body.error?.data).toMatchObject({
              code: 'TOO_MANY_REQUESTS',
              reason: 'RATE_LIMITED',
            });
            expect(r.headers.get('set-cookie')).toBeNull();
          }
        },
        TIMEOUT_MS,
      );
    });

    describe('cross-site requests', () => {
      it('a cross-origin form post (or text/plain, multipart, no content type) is 415 and changes nothing', async () => {
        const victim = await signUp('victim');
        const before = await state(victim.workspaceId);
        const forms: Record<string, string>[] = [
          { 'content-type': 'application/x-www-form-urlencoded' },
          { 'content-type': 'multipart/form-data; boundary=x' },
          { 'content-type': 'text/plain' },
          {},
        ];
        for (const type of forms) {
          const headers = { ...type, cookie: victim.cookie, host: 'localhost', origin: EVIL };
          for (const [path, body] of [
            ['usage.charge', JSON.stringify(charge(victim.workspaceId))],
            ['usage.charge', `workspaceId=${victim.workspaceId}&idempotencyKey=x`],
            [
              'workspaces.keys.create',
              JSON.stringify({ workspaceId: victim.workspaceId, name: 'stolen' }),
            ],
            ['auth.signOut', '{}'],
          ] as const) {
            const r = await send(`/trpc/${path}`, { method: 'POST', headers, body });
            expect(r.status, `${path} ${JSON.stringify(type)}`).toBe(415);
          }
        }
        // No cookie at all: a form cannot create an account either.
        const email = uniqueEmail('form');
        const signUpForm = await send('/trpc/auth.signUp', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', origin: EVIL },
          body: `email=${encodeURIComponent(email)}&password=${PASSWORD}&name=x`,
        });
        expect(signUpForm.status).toBe(415);
        expect(await t.store.accounts.userByEmail(email)).toBeNull();

        expect(await state(victim.workspaceId)).toEqual(before);
        expect((await get('auth.me', undefined, { cookie: victim.cookie })).status).toBe(200);
      });

      it('a cookie POST without the CSRF header is 403 and changes nothing', async () => {
        const u = await signUp();
        const before = await state(u.workspaceId);
        const noHeader = { cookie: u.cookie, host: 'localhost', origin: SELF };
        const noHeaderNoOrigin = { cookie: u.cookie };
        for (const headers of [noHeader, noHeaderNoOrigin]) {
          const r = await post('usage.charge', charge(u.workspaceId), headers);
          expect(r.status).toBe(403);
          expect(
            (
              await post(
                'workspaces.keys.create',
                { workspaceId: u.workspaceId, name: 'k' },
                headers,
              )
            ).status,
          ).toBe(403);
          expect((await post('auth.signOut', {}, headers)).status).toBe(403);
        }
        expect(await state(u.workspaceId)).toEqual(before);
        expect((await get('auth.me', undefined, { cookie: u.cookie })).status).toBe(200);
      });

      it('a cookie POST from a foreign (or opaque "null") Origin is 403 even with the CSRF header', async () => {
        const u = await signUp();
        const before = await state(u.workspaceId);
        for (const origin of [EVIL, 'http://localhost.evil.example', 'null']) {
          const r = await post('usage.charge', charge(u.workspaceId), {
            ...browser(u.cookie),
            origin,
          });
          expect(r.status, `Origin: ${origin}: ${r.text}`).toBe(403);
        }
        expect(await state(u.workspaceId)).toEqual(before);
      });

      it('a cookie POST with a non-Bearer Authorization header still needs the CSRF header', async () => {
        // The cookie is what authenticates such a request (only a Bearer token replaces it),
        // so the cookie's CSRF rule must apply.
        const u = await signUp();
        const before = await state(u.workspaceId);
        for (const authorization of ['Basic Zm9vOmJhcg==', 'Bearer', 'Token abc']) {
          const r = await post('usage.charge', charge(u.workspaceId), {
            cookie: u.cookie,
            authorization,
          });
          expect(r.status, `Authorization: ${authorization}: ${r.text}`).toBe(403);
        }
        expect(await state(u.workspaceId)).toEqual(before);
      });

      it('the same request from the web app itself (CSRF header, same Origin) goes through', async () => {
        const u = await signUp();
        const r = await post('usage.charge', charge(u.workspaceId), browser(u.cookie));
        expect(r.status, r.text).toBe(200);
        expect((r.body.result!.data as { credits: number }).credits).toBeGreaterThan(0);
      });

      it('a GET to a mutation path is 405 and changes nothing, with a key or a cookie', async () => {
        const u = await signUp();
        const before = await state(u.workspaceId);
        const mutations: [string, unknown][] = [
          [
            'usage.reserve',
            {
              workspaceId: u.workspaceId,
              job: { kind: 'video', type: 'standard', durationSec: 5, resolution: '720p' },
              idempotencyKey: idem(),
            },
          ],
          ['usage.charge', charge(u.workspaceId)],
          [
            'admin.ledger.grant',
            {
              workspaceId: u.workspaceId,
              wallet: 'video_credits',
              amount: 100,
              reason: 'GET',
              idempotencyKey: idem(),
            },
          ],
          ['workspaces.keys.create', { workspaceId: u.workspaceId, name: 'via GET' }],
          ['auth.signOut', {}],
        ];
        for (const [path, input] of mutations) {
          for (const headers of [service(), { cookie: u.cookie }, browser(u.cookie)]) {
            const r = await get(path, input, headers);
            expect(r.status, `GET ${path}`).toBe(405);
            expect(r.body.error?.data?.code).toBe('METHOD_NOT_SUPPORTED');
          }
        }
        expect(await state(u.workspaceId)).toEqual(before);
        expect((await get('auth.me', undefined, { cookie: u.cookie })).status).toBe(200);
      });
    });

    describe('request limits', () => {
      it('a 1,000-call batch is refused before any procedure runs: no ledger change, no audit rows', async () => {
        const u = await signUp();
        const before = await state(u.workspaceId);
        const n = 1000;
        const paths = Array.from({ length: n }, (_, i) =>
          i % 2 === 0 ? 'admin.ledger.grant' : 'usage.charge',
        );
        const inputs: Record<string, unknown> = {};
        paths.forEach((p, i) => {
          inputs[i] =
            p === 'usage.charge'
              ? charge(u.workspaceId)
              : {
                  workspaceId: u.workspaceId,
                  wallet: 'video_credits',
                  amount: 1,
                  reason: 'batch',
                  idempotencyKey: idem(),
                };
        });
        const r = await send(`/trpc/${paths.join(',')}?batch=1`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...service() },
          body: JSON.stringify(inputs),
        });
        expect(r.status, r.text.slice(0, 300)).toBe(400);
        expect(r.text).toMatch(/batch/i);

        // The same with 1,000 queries over GET.
        const reads: Record<string, unknown> = {};
        for (let i = 0; i < n; i++) reads[i] = { workspaceId: u.workspaceId };
        const g = await send(
          `/trpc/${Array.from({ length: n }, () => 'wallets.list').join(',')}?batch=1&input=${encodeURIComponent(JSON.stringify(reads))}`,
          { headers: service() },
        );
        expect(g.status).toBe(400);

        // 51 (one over the limit) is refused too.
        const over = await send(`/trpc/${paths.slice(0, 51).join(',')}?batch=1`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...service() },
          body: JSON.stringify(Object.fromEntries(Object.entries(inputs).slice(0, 51))),
        });
        expect(over.status).toBe(400);
        expect(await state(u.workspaceId)).toEqual(before);

        // A batch within the limit works: the limit, not batching, refused the others.
        const two = await send(`/trpc/${paths.slice(0, 2).join(',')}?batch=1`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...service() },
          body: JSON.stringify({ 0: inputs[0], 1: inputs[1] }),
        });
        expect(two.status, two.text).toBe(200);
        expect(await state(u.workspaceId)).not.toEqual(before);
      });

      it('a body over 256 KB is 413 and changes nothing', async () => {
        const u = await signUp();
        const before = await state(u.workspaceId);
        const r = await post(
          'usage.charge',
          { ...charge(u.workspaceId), padding: 'x'.repeat(300 * 1024) },
          service(),
        );
        expect(r.status).toBe(413);
        expect(await state(u.workspaceId)).toEqual(before);
      });
    });

    describe('API keys', () => {
      async function createKey(owner: { cookie: string; workspaceId: string }) {
        const r = await post(
          'workspaces.keys.create',
          { workspaceId: owner.workspaceId, name: 'CI' },
          browser(owner.cookie),
        );
        expect(r.status, r.text).toBe(200);
        return r.body.result!.data as { key: string; record: { id: string; prefix: string } };
      }

      it('a workspace key made by an owner acts on its workspace, is 403 on another, and 401 once revoked', async () => {
        const owner = await signUp('owner');
        const other = await signUp('other');
        const { key, record } = await createKey(owner);
        const bearer = { authorization: `Bearer ${key}` };

        expect((await get('wallets.list', { workspaceId: owner.workspaceId }, bearer)).status).toBe(
          200,
        );
        const mine = await post('usage.charge', charge(owner.workspaceId), bearer);
        expect(mine.status, mine.text).toBe(200);

        const otherBefore = await state(other.workspaceId);
        for (const r of [
          await get('wallets.list', { workspaceId: other.workspaceId }, bearer),
          await get('usage.history', { workspaceId: other.workspaceId }, bearer),
          await post('usage.charge', charge(other.workspaceId), bearer),
          // Its own workspace, but owner-only or admin-only procedures.
          await get('workspaces.keys.list', { workspaceId: owner.workspaceId }, bearer),
          await post(
            'workspaces.keys.create',
            { workspaceId: owner.workspaceId, name: 'more' },
            bearer,
          ),
          await get('admin.workspaces.get', { workspaceId: owner.workspaceId }, bearer),
        ]) {
          expect(r.status, r.text).toBe(403);
          expect(r.body.error?.data).toMatchObject({ code: 'FORBIDDEN', reason: 'FORBIDDEN' });
        }
        expect(await state(other.workspaceId)).toEqual(otherBefore);

        // The other owner cannot revoke it through their own workspace.
        const foreign = await post(
          'workspaces.keys.revoke',
          { workspaceId: other.workspaceId, keyId: record.id },
          browser(other.cookie),
        );
        expect(foreign.status, foreign.text).toBe(200);
        expect(foreign.body.result!.data).toEqual({ revoked: false });
        expect((await get('wallets.list', { workspaceId: owner.workspaceId }, bearer)).status).toBe(
          200,
        );

        const revoked = await post(
          'workspaces.keys.revoke',
          { workspaceId: owner.workspaceId, keyId: record.id },
          browser(owner.cookie),
        );
        expect(revoked.body.result!.data).toEqual({ revoked: true });
        const after = await get('wallets.list', { workspaceId: owner.workspaceId }, bearer);
        expect(after.status).toBe(401);
        expect(after.body.error?.data?.code).toBe('UNAUTHORIZED');
        expect((await post('usage.charge', charge(owner.workspaceId), bearer)).status).toBe(401);
      });

      it('keys and session tokens are stored hashed: the plaintext is in no row, and sha256 finds them', async () => {
        const owner = await signUp();
        const { key, record } = await createKey(owner);
        const secret = key.slice(record.prefix.length);
        expect(secret.length).toBeGreaterThan(20);

        const records = await t.store.accounts.apiKeys({ workspaceId: owner.workspaceId });
        expect(records.map((r) => r.id)).toEqual([record.id]);
        expect(JSON.stringify(records)).not.toContain(secret);
        expect(Object.keys(records[0]!).sort()).toEqual(
          [
            'createdAt',
            'createdBy',
            'id',
            'kind',
            'lastUsedAt',
            'name',
            'prefix',
            'revokedAt',
            'scopes',
            'workspaceId',
          ].sort(),
        );
        expect((await t.store.accounts.apiKeyByHash(sha256(key)))?.id).toBe(record.id);
        expect(await t.store.accounts.apiKeyByHash(key)).toBeNull();

        // The raw rows, through the store's driver (private: this test reaches in on purpose),
        // or, for a store on a worker thread, a read-only connection to its file.
        const opened = t.sqliteFile ? await SqliteDriver.open({ filename: t.sqliteFile }) : null;
        const driver = opened ?? (t.store as unknown as { driver?: Driver }).driver;
        expect(driver, 'LedgerStore keeps its driver in `driver`').toBeDefined();
        const rows = await driver!.read.all<Record<string, unknown>>('SELECT * FROM api_keys');
        expect(rows).toHaveLength(1);
        expect(JSON.stringify(rows)).not.toContain(secret);
        expect(rows[0]!.key_hash).toBe(sha256(key));
        const sessions = await driver!.read.all<Record<string, unknown>>('SELECT * FROM sessions');
        const token = owner.cookie.slice('__Host-cw_session='.length);
        expect(sessions.length).toBeGreaterThan(0);
        expect(JSON.stringify(sessions)).not.toContain(token);
        expect(
          await t.store.accounts.sessionUser({ tokenHash: token, now: t.clock.now() }),
        ).toBeNull();
        expect(
          (await t.store.accounts.sessionUser({ tokenHash: sha256(token), now: t.clock.now() }))
            ?.id,
        ).toBe(owner.userId);
        await opened?.close();

        // Shown once: neither the list nor the audit log repeats it.
        const list = await get(
          'workspaces.keys.list',
          { workspaceId: owner.workspaceId },
          { cookie: owner.cookie },
        );
        expect(list.status).toBe(200);
        expect(list.text).not.toContain(secret);
        const audit = await t.store.accounts.auditLog({ limit: 200 });
        expect(
          audit.items.some(
            (a) => a.action === 'api_key.create' && a.target === `api_key:${record.id}`,
          ),
        ).toBe(true);
        expect(JSON.stringify(audit)).not.toContain(secret);
      });
    });

    describe('headers', () => {
      it('CORS is closed: no Access-Control-Allow-* on a preflight or on cross-origin requests', async () => {
        const u = await signUp();
        const replies = [
          await send('/trpc/usage.charge', {
            method: 'OPTIONS',
            headers: {
              origin: EVIL,
              'access-control-request-method': 'POST',
              'access-control-request-headers': 'content-type,x-credits-csrf',
            },
          }),
          await get(
            'wallets.list',
            { workspaceId: u.workspaceId },
            { origin: EVIL, cookie: u.cookie },
          ),
          await get('health.check', undefined, { origin: EVIL }),
          await post('usage.charge', charge(u.workspaceId), { origin: EVIL, ...service() }),
          await send('/healthz', { headers: { origin: EVIL } }),
        ];
        for (const r of replies) {
          const cors = [...r.headers.keys()].filter((k) => k.startsWith('access-control-'));
          expect(cors).toEqual([]);
        }
      });

      it('security headers are on every response: success, refusals and errors', async () => {
        const u = await signUp();
        const replies = {
          healthz: await send('/healthz'),
          query: await get('wallets.list', { workspaceId: u.workspaceId }, { cookie: u.cookie }),
          unauthorized: await get('auth.me', undefined),
          form: await send('/trpc/usage.charge', {
            method: 'POST',
            headers: { 'content-type': 'text/plain' },
            body: '{}',
          }),
          csrf: await post('usage.charge', charge(u.workspaceId), { cookie: u.cookie }),
          tooLarge: await post('usage.charge', { padding: 'x'.repeat(300 * 1024) }, service()),
        };
        for (const [name, r] of Object.entries(replies)) {
          const h = (k: string) => r.headers.get(k);
          expect(h('x-content-type-options'), name).toBe('nosniff');
          expect(h('x-frame-options'), name).toMatch(/^(DENY|SAMEORIGIN)$/);
          expect(h('referrer-policy'), name).toBeTruthy();
          expect(h('strict-transport-security'), name).toMatch(/max-age=\d+/);
          expect(h('cross-origin-opener-policy'), name).toBe('same-origin');
          expect(h('x-powered-by'), name).toBeNull();
        }
        expect(replies.query.status).toBe(200);
        expect(replies.unauthorized.status).toBe(401);
        expect(replies.form.status).toBe(415);
        expect(replies.csrf.status).toBe(403);
        expect(replies.tooLarge.status).toBe(413);
      });

      it('every response carries a Content-Security-Policy that allows only our own scripts', async () => {
        const res = await t.app.request('/healthz');
        const csp = res.headers.get('content-security-policy') ?? '';
        expect(csp).toContain("default-src 'self'");
        expect(csp).toContain("script-src 'self'");
        expect(csp).not.toMatch(/script-src[^;]*unsafe-inline/);
        expect(csp).toContain("frame-ancestors 'none'");
      });
    });
  });
}
