import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { LIMITS, LOCKOUT, RulesService } from '@credits/api';
import { LedgerStore, SqliteDriver, WorkerStore, type Store } from '@credits/store';
import { clientAddress, createApp } from '../src/app.js';
import { createMetrics } from '../src/metrics.js';
import { T0, makeTestApp, type TestApp } from './test-app.js';

/**
 * Issue 12, findings 3 and 5: the client address behind proxies (TRUST_PROXY=N), sign-in,
 * sign-up limits and the per-account lockout, counted in the store so that every process
 * shares them.
 */

const PASSWORD = 'correct horse battery staple';
const uniqueEmail = (label: string) => `${label}-${randomUUID().slice(0, 8)}@example.com`;

type App = { request: (path: string, init?: RequestInit) => Response | Promise<Response> };

async function post(app: App, path: string, input: unknown, headers: Record<string, string> = {}) {
  const res = await app.request(`/trpc/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(input),
  });
  const body = (await res.json()) as {
    result?: { data: unknown };
    error?: { message: string; data: { reason: string | null; details: unknown } };
  };
  return { status: res.status, body, cookie: res.headers.get('set-cookie') };
}

describe('the client address behind proxies (TRUST_PROXY=N)', () => {
  const socket = () => '10.0.0.2';
  it('takes the entry N hops from the right; what the client wrote on the left counts for nothing', () => {
    const xff = '6.6.6.6, 198.51.100.7, 10.0.0.9';
    expect(clientAddress({ forwardedFor: xff, hops: 0, socket })).toBe('10.0.0.2');
    expect(clientAddress({ forwardedFor: xff, hops: 1, socket })).toBe('10.0.0.9');
    expect(clientAddress({ forwardedFor: xff, hops: 2, socket })).toBe('198.51.100.7');
    expect(clientAddress({ forwardedFor: xff, hops: 3, socket })).toBe('6.6.6.6');
    // fewer entries than proxies, or garbage: the socket's peer
    expect(clientAddress({ forwardedFor: xff, hops: 4, socket })).toBe('10.0.0.2');
    expect(clientAddress({ forwardedFor: 'evil, nonsense', hops: 1, socket })).toBe('10.0.0.2');
    expect(clientAddress({ forwardedFor: undefined, hops: 1, socket })).toBe('10.0.0.2');
  });
});

describe('sign-in and sign-up limits over HTTP (issue 12, findings 3 and 5)', () => {
  let t: TestApp;
  beforeEach(async () => {
    t = await makeTestApp({ trustProxy: 1 });
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('behind one proxy, a spoofed first X-Forwarded-For entry does not dodge the per-address limit', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) {
      // The client writes whatever it likes first; the proxy appends the real address.
      const xff = `${(i * 7) % 250}.${i}.1.${i + 1}, 198.51.100.7`;
      const r = await post(
        t.app,
        'auth.signIn',
        { email: uniqueEmail(`spray${i}`), password: 'wrong password' },
        { 'x-forwarded-for': xff },
      );
      statuses.push(r.status);
    }
    const allowed = LIMITS.signInPerAddress.limit;
    expect(statuses.slice(0, allowed).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(allowed)).toEqual(Array(40 - allowed).fill(429));
    // Another real client behind the same proxy is not affected.
    const other = await post(
      t.app,
      'auth.signIn',
      { email: uniqueEmail('other'), password: 'wrong password' },
      { 'x-forwarded-for': '198.51.100.8' },
    );
    expect(other.status).toBe(401);
  });

  it('locks an account progressively after 5 wrong passwords, tells its owner, and a right password clears it', async () => {
    const email = uniqueEmail('victim');
    const up = await post(t.app, 'auth.signUp', { email, password: PASSWORD, name: 'Victim' });
    expect(up.status).toBe(200);
    const userId = (up.body.result!.data as { user: { id: string } }).user.id;
    const attempt = (password: string) =>
      post(t.app, 'auth.signIn', { email, password }, { 'x-forwarded-for': randomIp() });
    for (let i = 0; i < LOCKOUT.freeFailures; i++)
      expect((await attempt(`wrong-${i}`)).status).toBe(401);
    // Locked: even the right password waits, whatever address it comes from.
    const locked = await attempt(PASSWORD);
    expect(locked.status).toBe(429);
    expect(locked.body.error?.data.reason).toBe('RATE_LIMITED');
    expect(locked.body.error?.message).toMatch(/Try again in 1 minute, or reset your password/);
    expect(locked.cookie).toBeNull();
    // The owner is told (their security page lists it).
    const events = await t.store.accounts.auditLog({ action: 'auth.account_locked', limit: 10 });
    expect(events.items.map((e) => e.target)).toEqual([`user:${userId}`]);
    // Each further failure doubles the wait.
    t.clock.advance(61_000);
    expect((await attempt('wrong-again')).status).toBe(401);
    expect((await attempt(PASSWORD)).body.error?.message).toMatch(/Try again in 2 minutes/);
    t.clock.advance(121_000);
    const ok = await attempt(PASSWORD);
    expect(ok.status).toBe(200);
    // A success clears the failures: after the per-account window (every attempt counts
    // there), the next typo is a plain 401 again, not a longer lock.
    t.clock.advance(LIMITS.signInPerAccount.windowMs);
    expect((await attempt('typo')).status).toBe(401);
    expect((await attempt(PASSWORD)).status).toBe(200);
  });

  it('an unknown email is locked the same way (the lock tells nothing about accounts)', async () => {
    const email = uniqueEmail('nobody');
    const replies = [];
    for (let i = 0; i <= LOCKOUT.freeFailures; i++)
      replies.push(await post(t.app, 'auth.signIn', { email, password: `x-${i}` }));
    expect(replies.map((r) => r.status)).toEqual([401, 401, 401, 401, 401, 429]);
  });

  it('sign-up: 5 accounts an hour per address, then 429; a taken email is refused without saying so', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) {
      const r = await post(
        t.app,
        'auth.signUp',
        { email: uniqueEmail(`bulk${i}`), password: PASSWORD, name: `Bulk ${i}` },
        { 'x-forwarded-for': '6.6.6.6, 198.51.100.20' },
      );
      statuses.push(r.status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
    t.clock.advance(LIMITS.signUpPerAddress.windowMs);
    const email = uniqueEmail('taken');
    const first = await post(t.app, 'auth.signUp', { email, password: PASSWORD, name: 'A' });
    const again = await post(t.app, 'auth.signUp', { email, password: PASSWORD, name: 'B' });
    expect(first.status).toBe(200);
    expect(again.status).toBe(409);
    expect(again.body.error?.message).not.toMatch(/exists|taken|already registered/i);
    expect(again.cookie).toBeNull();
  });
});

describe('limits are shared by every process on one database', () => {
  let dir: string;
  let stores: Store[];
  let apps: App[];
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'credits-limits-'));
    const file = join(dir, 'credits.db');
    const a = await WorkerStore.open({ filename: file });
    await a.migrate();
    const b = new LedgerStore(await SqliteDriver.open({ filename: file }));
    stores = [a, b];
    apps = [];
    for (const store of stores) {
      const rules = new RulesService(store, { refreshMs: 0, clock: () => T0 });
      await rules.seed(T0);
      apps.push(
        createApp({
          store,
          rules,
          logger: pino({ level: 'silent' }),
          metrics: createMetrics(store),
          clock: () => T0,
          holdTtlMs: 3_600_000,
          trustProxy: 1,
        }),
      );
    }
  });
  afterEach(async () => {
    for (const s of stores) await s.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('two servers on one SQLite file: the lockout and the sign-up limit count across both', async () => {
    const email = uniqueEmail('shared');
    expect(
      (await post(apps[0]!, 'auth.signUp', { email, password: PASSWORD, name: 'S' })).status,
    ).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i <= LOCKOUT.freeFailures; i++)
      statuses.push((await post(apps[i % 2]!, 'auth.signIn', { email, password: `w${i}` })).status);
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    const signUps: number[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await post(
        apps[i % 2]!,
        'auth.signUp',
        { email: uniqueEmail(`p${i}`), password: PASSWORD, name: 'P' },
        { 'x-forwarded-for': '198.51.100.30' },
      );
      signUps.push(r.status);
    }
    expect(signUps).toEqual([200, 200, 200, 200, 200, 429]);
  });
});

function randomIp(): string {
  return Array.from({ length: 4 }, () => Math.floor(Math.random() * 200) + 1).join('.');
}
