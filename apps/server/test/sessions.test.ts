import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { issuePasswordReset } from '@credits/api';
import { INSECURE_DEV_SESSION_COOKIE, sessionCookie } from '../src/auth-middleware.js';
import { parseEnv } from '../src/env.js';
import { makeTestApp, type TestApp } from './test-app.js';

/**
 * Issue 12, finding 6: sign-out revoked only the current session; there was no password
 * change, reset or sign-out-everywhere; no `__Host-` cookie; `Secure` only when the request
 * said HTTPS.
 */

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'velvet-otter-canyon-42';
const SELF = 'http://localhost';

interface Reply {
  status: number;
  body: {
    result?: { data: unknown };
    error?: { message: string; data: { reason: string | null; code: string } };
  };
  setCookie: string | null;
}

describe('sessions, password change and reset (issue 12, finding 6)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await makeTestApp();
  });
  afterEach(async () => {
    await t.cleanup();
  });

  async function call(
    path: string,
    input: unknown,
    opts: { cookie?: string; method?: 'GET' | 'POST'; ua?: string } = {},
  ): Promise<Reply> {
    const headers: Record<string, string> = {
      ...(opts.cookie ? { cookie: opts.cookie, origin: SELF, 'x-credits-csrf': '1' } : {}),
      ...(opts.ua ? { 'user-agent': opts.ua } : {}),
    };
    const res =
      opts.method === 'GET'
        ? await t.app.request(
            `/trpc/${path}${input === undefined ? '' : `?input=${encodeURIComponent(JSON.stringify(input))}`}`,
            { headers },
          )
        : await t.app.request(`/trpc/${path}`, {
            method: 'POST',
            headers: { ...headers, 'content-type': 'application/json', host: 'localhost' },
            body: JSON.stringify(input),
          });
    return {
      status: res.status,
      body: (await res.json()) as Reply['body'],
      setCookie: res.headers.get('set-cookie'),
    };
  }
  const cookieOf = (r: Reply) => /^(__Host-cw_session=[^;]+)/.exec(r.setCookie ?? '')?.[1] ?? '';
  const me = (cookie: string) => call('auth.me', undefined, { cookie, method: 'GET' });

  async function account() {
    const email = `u-${randomUUID().slice(0, 8)}@example.com`;
    const up = await call(
      'auth.signUp',
      { email, password: PASSWORD, name: 'Sam' },
      { ua: 'Laptop' },
    );
    expect(up.status).toBe(200);
    const laptop = cookieOf(up);
    const phone = cookieOf(
      await call('auth.signIn', { email, password: PASSWORD }, { ua: 'Phone' }),
    );
    const tablet = cookieOf(
      await call('auth.signIn', { email, password: PASSWORD }, { ua: 'Tablet' }),
    );
    return { email, laptop, phone, tablet };
  }

  it('lists live sessions, signs one other device out, then signs out everywhere', async () => {
    const a = await account();
    const list = await call('auth.sessions', undefined, { cookie: a.laptop, method: 'GET' });
    const sessions = (
      list.body.result!.data as {
        sessions: { id: string; userAgent: string; current: boolean }[];
      }
    ).sessions;
    expect(sessions.map((s) => [s.userAgent, s.current]).sort()).toEqual([
      ['Laptop', true],
      ['Phone', false],
      ['Tablet', false],
    ]);
    // Ids are neither the token nor its stored hash.
    for (const s of sessions) expect(a.phone).not.toContain(s.id);
    const phone = sessions.find((s) => s.userAgent === 'Phone')!;
    expect((await call('auth.revokeSession', { id: phone.id }, { cookie: a.laptop })).status).toBe(
      200,
    );
    expect((await me(a.phone)).status).toBe(401);
    expect((await me(a.tablet)).status).toBe(200);
    // Another account's session id is not found, not revoked.
    const b = await account();
    expect((await call('auth.revokeSession', { id: phone.id }, { cookie: b.laptop })).status).toBe(
      404,
    );

    const everywhere = await call('auth.signOutEverywhere', {}, { cookie: a.laptop });
    expect(everywhere.status).toBe(200);
    expect(everywhere.body.result!.data).toEqual({ revoked: 2 });
    expect(everywhere.setCookie).toMatch(/^__Host-cw_session=;.*Max-Age=0/);
    for (const c of [a.laptop, a.phone, a.tablet]) expect((await me(c)).status).toBe(401);
    expect((await me(b.laptop)).status).toBe(200);
  });

  it('changing the password needs the current one, refuses a weak one, and signs out every other session', async () => {
    const a = await account();
    const wrong = await call(
      'auth.changePassword',
      { currentPassword: 'not it at all', newPassword: NEW_PASSWORD },
      { cookie: a.laptop },
    );
    expect(wrong.status).toBe(400);
    const weak = await call(
      'auth.changePassword',
      { currentPassword: PASSWORD, newPassword: 'aaaaaaaaaa' },
      { cookie: a.laptop },
    );
    expect(weak.body.error?.data.reason).toBe('VALIDATION');
    expect((await me(a.phone)).status).toBe(200);
    const ok = await call(
      'auth.changePassword',
      { currentPassword: PASSWORD, newPassword: NEW_PASSWORD },
      { cookie: a.laptop },
    );
    expect(ok.status).toBe(200);
    expect((await me(a.laptop)).status).toBe(200);
    expect((await me(a.phone)).status).toBe(401);
    expect((await me(a.tablet)).status).toBe(401);
    expect((await call('auth.signIn', { email: a.email, password: PASSWORD })).status).toBe(401);
    expect((await call('auth.signIn', { email: a.email, password: NEW_PASSWORD })).status).toBe(
      200,
    );
    const events = await call('auth.securityEvents', undefined, {
      cookie: a.laptop,
      method: 'GET',
    });
    expect(
      (events.body.result!.data as { events: { action: string }[] }).events.map((e) => e.action),
    ).toContain('auth.password_changed');
  });

  it('a reset token works once, within 30 minutes, and only the newest; it signs out every session', async () => {
    const a = await account();
    const first = await issuePasswordReset({ store: t.store, email: a.email, now: t.clock.now() });
    const second = await issuePasswordReset({
      store: t.store,
      email: a.email,
      now: t.clock.now(),
    });
    const reset = (token: string, newPassword = NEW_PASSWORD) =>
      call('auth.resetPassword', { token, newPassword });
    // The older token stopped working when the newer one was made.
    expect((await reset(first.token)).body.error?.data.reason).toBe('VALIDATION');
    // A weak password is refused and the token is not spent.
    expect((await reset(second.token, '1234567890')).body.error?.data.reason).toBe('VALIDATION');
    const ok = await reset(second.token);
    expect(ok.status).toBe(200);
    expect(cookieOf(ok)).not.toBe('');
    for (const c of [a.laptop, a.phone, a.tablet]) expect((await me(c)).status).toBe(401);
    expect((await me(cookieOf(ok))).status).toBe(200);
    // Used: never again.
    expect((await reset(second.token)).body.error?.data.reason).toBe('VALIDATION');
    // Expired after 30 minutes.
    const late = await issuePasswordReset({ store: t.store, email: a.email, now: t.clock.now() });
    t.clock.advance(30 * 60_000 + 1);
    expect((await reset(late.token)).body.error?.data.reason).toBe('VALIDATION');
    // A made-up token is refused like a used one.
    expect((await reset('x'.repeat(43))).body.error?.data.reason).toBe('VALIDATION');
  });

  it('the session cookie is __Host- and Secure unless INSECURE_DEV_COOKIES, which production refuses', () => {
    expect(sessionCookie('tok', 2_000, 1_000)).toBe(
      '__Host-cw_session=tok; Path=/; HttpOnly; SameSite=Lax; Max-Age=1; Secure',
    );
    expect(sessionCookie('tok', 2_000, 1_000, true)).toBe(
      `${INSECURE_DEV_SESSION_COOKIE}=tok; Path=/; HttpOnly; SameSite=Lax; Max-Age=1`,
    );
    expect(parseEnv({ INSECURE_DEV_COOKIES: 'true' }).INSECURE_DEV_COOKIES).toBe(true);
    expect(parseEnv({}).INSECURE_DEV_COOKIES).toBe(false);
    expect(() => parseEnv({ NODE_ENV: 'production', INSECURE_DEV_COOKIES: 'true' })).toThrow(
      /development only/,
    );
  });
});
