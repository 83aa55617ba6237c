import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { metricsApp } from '../src/metrics.js';
import { TEST_METRICS_TOKEN as METRICS_TOKEN, makeTestApp, type TestApp } from './test-app.js';

/**
 * Issue 12, finding 2: the `route` label was the raw request path under /trpc/, so anonymous
 * requests to random paths grew /metrics (and the process) without bound, and /metrics needed
 * no credentials.
 */

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/**
 * Heap in use after collecting. Node 20's `AbortSignal.any` (tRPC makes one per request)
 * frees its weak bookkeeping only on a later turn of the event loop, so collect across a few.
 */
async function heapMb(): Promise<number> {
  for (let i = 0; i < 4; i += 1) {
    gc();
    await new Promise((r) => setTimeout(r, 20));
  }
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

let t: TestApp;
let seed = 12345;
/** A deterministic random string (the test repeats exactly). */
function rand(len: number): string {
  let s = '';
  while (s.length < len) {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    s += seed.toString(36);
  }
  return s.slice(0, len);
}

/** An anonymous request to a random path, in the shapes an attacker would vary. */
async function randomRequest(i: number): Promise<Response> {
  switch (i % 6) {
    case 0:
      return t.app.request(`/trpc/${rand(40)}`);
    case 1:
      return t.app.request(`/trpc/${rand(8)},${rand(8)},wallets.list`);
    case 2:
      return t.app.request(`/trpc/wallets.list,${rand(12)}?batch=1&input=%7B%7D`);
    case 3:
      return t.app.request(`/${rand(30)}/${rand(10)}`);
    case 4:
      return t.app.request(`/webhooks/${rand(16)}`, { method: 'POST', body: 'x' });
    default:
      return t.app.request(`/trpc/${rand(2000)}`, { method: 'POST' });
  }
}

async function send(from: number, count: number): Promise<void> {
  for (let i = from; i < from + count; i += 50) {
    const batch = Array.from({ length: Math.min(50, from + count - i) }, (_, k) =>
      randomRequest(i + k).then((r) => r.arrayBuffer()),
    );
    await Promise.all(batch);
  }
}

/** Series of the request metrics (one per label set) and the size of /metrics. */
async function series(): Promise<{ count: number; bytes: number }> {
  const json = await t.metrics.registry.getMetricsAsJSON();
  const count = json
    .filter((m) => m.name.startsWith('credits_http_'))
    .reduce((n, m) => n + m.values.length, 0);
  const res = await t.app.request('/metrics', {
    headers: { authorization: `Bearer ${METRICS_TOKEN}` },
  });
  expect(res.status).toBe(200);
  return { count, bytes: (await res.text()).length };
}

describe('/metrics under anonymous random paths (issue 12, finding 2)', () => {
  beforeAll(async () => {
    t = await makeTestApp();
  });
  afterAll(async () => {
    await t.cleanup();
  });

  it('is not served without the token', async () => {
    expect((await t.app.request('/metrics')).status).toBe(404);
    expect(
      (await t.app.request('/metrics', { headers: { authorization: 'Bearer wrong-token' } }))
        .status,
    ).toBe(404);
  });

  it('10,000 random paths: request series stay under a fixed bound and memory stays flat', async () => {
    await send(0, 1_000);
    const warm = await series();
    const heapBefore = await heapMb();
    await send(1_000, 10_000);
    const after = await series();
    const heapAfter = await heapMb();
    console.info(
      `metrics after 1,000 / 11,000 random requests: ${warm.count} / ${after.count} series, ` +
        `${warm.bytes} / ${after.bytes} bytes; heap ${heapBefore.toFixed(1)} → ${heapAfter.toFixed(1)} MB`,
    );
    // Every label value is a procedure name, `trpc:batch`, a route pattern or `unknown`; the
    // random paths above can only ever produce a handful of them.
    expect(after.count).toBeLessThanOrEqual(64);
    // /metrics grows by a few series at most (a status code not seen in the warm-up), not by
    // one per path: before the fix 10,000 paths made 10,000 label sets of 14 lines each.
    expect(after.bytes).toBeLessThan(warm.bytes + 16_384);
    expect(heapAfter - heapBefore).toBeLessThan(8);
    const text = await (
      await t.app.request('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    ).text();
    const routes = new Set([...text.matchAll(/route="([^"]*)"/g)].map((m) => m[1]!));
    expect(routes.has('unknown')).toBe(true);
    expect(routes.size).toBeLessThanOrEqual(8);
    for (const r of routes) expect(r, r).toMatch(/^(unknown|trpc:[a-zA-Z.]+|\/[a-z/:*]*)$/);
  });

  it('known procedures keep their own label', async () => {
    await t.app.request('/trpc/health.check');
    const text = await (
      await t.app.request('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    ).text();
    expect(text).toMatch(/credits_http_requests_total\{route="trpc:health.check",status="200"\}/);
  });

  it('a port of its own (METRICS_PORT) serves only /metrics, with the token when one is set', async () => {
    const open = metricsApp(t.metrics);
    expect((await open.request('/metrics')).status).toBe(200);
    expect((await open.request('/trpc/health.check')).status).toBe(404);
    const guarded = metricsApp(t.metrics, METRICS_TOKEN);
    expect((await guarded.request('/metrics')).status).toBe(404);
    expect(
      (await guarded.request('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }))
        .status,
    ).toBe(200);
  });
});
