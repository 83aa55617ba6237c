import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import net, { isIP } from 'node:net';
import { hostname } from 'node:os';
import {
  createCaller,
  workspaceServices,
  isPublicAddress,
  isPublicWebhookUrl,
  type Caller,
} from '@credits/api';
import type { Store } from '@credits/store';
import { deliverDueAlerts } from '../src/alert-delivery.js';
import { webhookFetch, type ResolvedAddress } from '../src/webhook-fetch.js';
import { makeTestApp, type TestApp } from './test-app.js';

/**
 * Issue 12, finding 1 (SSRF through alert webhooks). Every URL the issue lists, and a name
 * that resolves to a private address only when the delivery connects, is set as a
 * workspace's webhook and delivered with the server's real sender. A listener on 127.0.0.1
 * and ::1 counts connections, and a boundary around `net.Socket#connect` records every
 * address any socket was about to connect to (and lets nothing but loopback through, so
 * even a broken guard sends nothing off this machine).
 */

// ----------------------------------------------------------------- the listener

let listener: { v4: http.Server; v6: http.Server | null; port: number; hits: string[] };

async function listenOn(host: string, port: number, hits: string[]): Promise<http.Server | null> {
  const server = http.createServer((req, res) => {
    hits.push(`${req.method} ${req.url}`);
    res.end('ok');
  });
  server.on('connection', (s) => hits.push(`connection from ${s.remoteAddress}`));
  return new Promise((resolve) => {
    server.once('error', () => resolve(null)); // no IPv6 loopback here
    server.listen(port, host, () => resolve(server));
  });
}

beforeAll(async () => {
  const hits: string[] = [];
  const v4 = (await listenOn('127.0.0.1', 0, hits))!;
  const port = (v4.address() as net.AddressInfo).port;
  const v6 = await listenOn('::1', port, hits);
  listener = { v4, v6, port, hits };
});
afterAll(async () => {
  await new Promise((r) => listener.v4.close(r));
  if (listener.v6) await new Promise((r) => listener.v6!.close(r));
});

// ----------------------------------------------------------------- the network boundary

/** Every address a socket was about to connect to, after the sender's own checks. */
let reached: string[] = [];
const realConnect = net.Socket.prototype.connect;
const LOOPBACK = new Set(['127.0.0.1', '::1']);

beforeEach(() => {
  reached = [];
  listener.hits.length = 0;
  (net.Socket.prototype as any).connect = function (this: net.Socket, ...args: unknown[]) {
    const first = args[0];
    const opts = (Array.isArray(first) ? first[0] : first) as net.TcpNetConnectOpts | undefined;
    if (opts && typeof opts === 'object' && 'port' in opts) {
      const host = opts.host ?? 'localhost';
      const block = (address: string) => {
        reached.push(address);
        return !LOOPBACK.has(address);
      };
      if (isIP(host) !== 0) {
        if (block(host)) {
          process.nextTick(() => this.destroy(new Error(`test boundary: ${host} not reachable`)));
          return this;
        }
      } else if (opts.lookup) {
        const inner = opts.lookup;
        opts.lookup = ((name: string, o: { all?: boolean }, cb: (...a: unknown[]) => void) =>
          inner(
            name,
            o as never,
            ((err: Error | null, a: unknown, f?: number) => {
              if (err) return cb(err, a, f);
              const list = Array.isArray(a) ? (a as ResolvedAddress[]).map((x) => x.address) : [a];
              const blocked = list.map((x) => block(String(x))).some(Boolean);
              if (blocked) return cb(new Error('test boundary: not reachable'), '', 0);
              return cb(null, a, f);
            }) as never,
          )) as typeof opts.lookup;
      }
    }
    return (realConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  };
});
afterEach(() => {
  net.Socket.prototype.connect = realConnect;
});

// ----------------------------------------------------------------- DNS as an attacker runs it

const REBIND = 'rebind.hooks-attacker.com';
const PUBLIC = '93.184.216.34';
let rebindCalls = 0;

/**
 * The system resolver, plus what these names resolve to on machines where they resolve
 * (Debian's /etc/hosts, systemd-resolved, a cloud VM), and an attacker's name that answers
 * a public address first and 127.0.0.1 on every later lookup (DNS rebinding).
 */
async function attackerDns(host: string): Promise<ResolvedAddress[]> {
  if (host === REBIND) {
    rebindCalls += 1;
    return [{ address: rebindCalls === 1 ? PUBLIC : '127.0.0.1', family: 4 }];
  }
  if (host === 'ip6-localhost') return [{ address: '::1', family: 6 }];
  if (host === 'localhost.localdomain' || host.endsWith('.localhost'))
    return [{ address: '127.0.0.1', family: 4 }];
  if (host === 'metadata.google.internal') return [{ address: '169.254.169.254', family: 4 }];
  return dnsLookup(host, { all: true, verbatim: true });
}

/** Issue 12, finding 1: each URL an ordinary owner got the server to POST to. */
const issueUrls = (port: number) => [
  `http://${hostname()}:${port}/hook`,
  `http://localhost.:${port}/hook`,
  `http://foo.localhost.:${port}/hook`,
  `http://ip6-localhost:${port}/hook`,
  `http://localhost.localdomain:${port}/hook`,
  `http://metadata.google.internal./computeMetadata/v1/`,
  `http://[::7f00:1]:${port}/hook`,
  `http://[64:ff9b::7f00:1]:${port}/hook`,
  `http://[fec0::1]:${port}/hook`,
  `http://[ff02::1]:${port}/hook`,
  `http://198.18.0.1:${port}/hook`,
  `http://192.0.0.1:${port}/hook`,
  // and the obvious ones, in every spelling
  `http://127.0.0.1:${port}/hook`,
  `http://127.1:${port}/hook`,
  `http://2130706433:${port}/hook`,
  `http://[::1]:${port}/hook`,
  `http://[::ffff:127.0.0.1]:${port}/hook`,
  `http://[::ffff:7f00:1]:${port}/hook`,
  `http://0.0.0.0:${port}/hook`,
  `http://169.254.169.254/latest/meta-data`,
  `http://10.0.0.1:${port}/hook`,
];

const ADMIN: Caller = { kind: 'service', id: 'service:test', scopes: ['admin', 'usage:write'] };

describe('alert webhooks cannot reach the server’s network (issue 12, finding 1)', () => {
  let t: TestApp;
  let api: ReturnType<typeof createCaller>;
  let workspaceId: string;

  beforeEach(async () => {
    rebindCalls = 0;
    t = await makeTestApp();
    api = createCaller({
      store: t.store,
      rules: t.rules,
      ...workspaceServices({ store: t.store, clock: t.clock.now }),
      now: t.clock.now,
      caller: ADMIN,
      config: { holdTtlMs: 3_600_000 },
    });
    workspaceId = (
      await api.admin.workspaces.create({ name: 'SSRF', plan: 'pro', idempotencyKey: randomUUID() })
    ).workspace.id;
  });
  afterEach(async () => {
    await t.cleanup();
  });

  /** One more low-balance alert, due now: top up above the threshold (20), then spend 16 under it. */
  async function oneAlert(store: Store) {
    const before = (await store.billing.notifications({ workspaceId, limit: 200 })).length;
    const { balance } = await api.wallets.get({ workspaceId, wallet: 'image_credits' });
    await api.admin.ledger.grant({
      workspaceId,
      wallet: 'image_credits',
      amount: 30 - balance,
      source: 'purchase',
      reason: 'ssrf test',
      idempotencyKey: randomUUID(),
    });
    await api.usage.charge({
      workspaceId,
      job: { kind: 'image', type: 'hero', count: 2 },
      idempotencyKey: randomUUID(),
    });
    const notes = await store.billing.notifications({ workspaceId, limit: 200 });
    expect(notes.length).toBe(before + 1);
    expect(notes[0]?.kind).toBe('low');
  }

  /** Store the URL as the workspace's webhook, as if the save-time check had let it through. */
  const setUrl = (url: string) =>
    t.store.billing.setAlertWebhook({
      workspaceId,
      url,
      secret: 'whsec_test',
      now: t.clock.now(),
      audit: { actor: 'test', action: 'workspace.alert_webhook.set', target: '' },
    });

  it('the listener is reachable when a test harness allows loopback (so silence below means something)', async () => {
    await setUrl(`http://127.0.0.1:${listener.port}/hook`);
    await oneAlert(t.store);
    const report = await deliverDueAlerts({
      store: t.store,
      now: t.clock.now(),
      fetch: webhookFetch({ allowAddress: (a) => LOOPBACK.has(a) }),
    });
    expect(report).toMatchObject({ attempted: 1, delivered: 1 });
    expect(listener.hits).toContain('POST /hook');
    const [note] = await t.store.billing.notifications({ workspaceId, limit: 1 });
    expect(note?.delivery).toBe('delivered');
  });

  it('every URL of the issue: refused when saved where the text says so, and never connected to when delivered', async () => {
    const urls = issueUrls(listener.port);
    // Saved through the API: every literal and local name is refused at once.
    const savable = urls.filter((u) => isPublicWebhookUrl(u));
    expect(savable).toEqual([]);
    // …but the guarantee is at connect time: store each one directly, raise a fresh alert
    // and let the sweeper's delivery send it with the server's sender.
    const send = webhookFetch({ resolve: attackerDns });
    for (const url of urls) {
      await setUrl(url);
      await oneAlert(t.store);
      // The production sender as the server builds it (system DNS), then with the names
      // resolving as they would on a Debian host, a cloud VM or under systemd-resolved.
      const asServed = await deliverDueAlerts({ store: t.store, now: t.clock.now() });
      t.clock.advance(30_000);
      const withDns = await deliverDueAlerts({ store: t.store, now: t.clock.now(), fetch: send });
      for (const report of [asServed, withDns]) {
        expect(report.attempted, url).toBeGreaterThanOrEqual(1);
        expect(report.delivered, url).toBe(0);
      }
      expect(reached, url).toEqual([]);
      // The refusal comes from the sender's own check, before any socket exists.
      await expect(send(url, { method: 'POST', body: '{}' }), url).rejects.toThrow(
        /not a public address/,
      );
    }
    expect(listener.hits).toEqual([]);
    const notes = await t.store.billing.notifications({ workspaceId, limit: 200 });
    expect(notes.length).toBe(urls.length);
    expect(notes.filter((n) => n.delivery === 'delivered')).toEqual([]);
  });

  it('a public-looking name that resolves to 127.0.0.1 at connect time (DNS rebinding) is never connected to', async () => {
    const url = `http://${REBIND}:${listener.port}/hook`;
    // The text looks public, so an owner can save it.
    expect(isPublicWebhookUrl(url)).toBe(true);
    await setUrl(url);
    await oneAlert(t.store);
    const send = webhookFetch({ resolve: attackerDns });
    // First delivery: the name answers a public address, so the sender goes ahead (the test
    // boundary stops it before any packet leaves); every later lookup answers 127.0.0.1.
    const first = await deliverDueAlerts({ store: t.store, now: t.clock.now(), fetch: send });
    expect(first).toMatchObject({ attempted: 1, delivered: 0, retrying: 1 });
    expect(reached).toEqual([PUBLIC]);
    for (const wait of [30_000, 120_000, 600_000]) {
      t.clock.advance(wait);
      const again = await deliverDueAlerts({ store: t.store, now: t.clock.now(), fetch: send });
      expect(again).toMatchObject({ attempted: 1, delivered: 0 });
    }
    expect(rebindCalls).toBe(4);
    expect(reached.filter((a) => !isPublicAddress(a))).toEqual([]);
    expect(listener.hits).toEqual([]);
  });

  it('owners see only delivered / pending / failed: a refused address looks like any unreachable receiver', async () => {
    await setUrl(`http://localhost.:${listener.port}/hook`);
    await oneAlert(t.store);
    const send = webhookFetch({ resolve: attackerDns });
    const outcome = async (url: string) => {
      await setUrl(url);
      await deliverDueAlerts({ store: t.store, now: t.clock.now(), fetch: send });
      const [note] = await t.store.billing.notifications({ workspaceId, limit: 1 });
      return { delivery: note?.delivery, attempts: note?.attempts };
    };
    // An open loopback port (the listener) and a closed one read the same.
    const open = await outcome(`http://localhost.:${listener.port}/hook`);
    t.clock.advance(30_000);
    const closed = await outcome(`http://localhost.:1/hook`);
    expect(open).toEqual({ delivery: 'pending', attempts: 1 });
    expect(closed).toEqual({ delivery: 'pending', attempts: 2 });
    expect(listener.hits).toEqual([]);
  });
});
