// @vitest-environment node
import { expect, it } from 'vitest';
import type { Page, Response } from 'playwright-core';
import { browserSuite, newContext } from './harness';

interface Fetched {
  path: string;
  status: number;
  encoding: string | null;
  cacheControl: string | null;
  /** Bytes on the wire for the body (as the browser received it, compressed or not). */
  bodyBytes: number;
  /** Headers and body. */
  bytes: number;
}

/** Every static (non-API) response the page receives while `during` runs. */
async function recordStatic(page: Page, during: () => Promise<void>): Promise<Fetched[]> {
  const seen: Promise<Fetched>[] = [];
  const onResponse = (r: Response) => {
    const url = new URL(r.url());
    if (url.pathname.startsWith('/trpc') || url.pathname.startsWith('/export')) return;
    seen.push(
      (async () => {
        await r.finished();
        const sizes = await r.request().sizes();
        return {
          path: url.pathname,
          status: r.status(),
          encoding: (await r.headerValue('content-encoding')) ?? null,
          cacheControl: (await r.headerValue('cache-control')) ?? null,
          bodyBytes: sizes.responseBodySize,
          bytes: sizes.responseBodySize + sizes.responseHeadersSize,
        };
      })(),
    );
  };
  page.on('response', onResponse);
  try {
    await during();
  } finally {
    page.off('response', onResponse);
  }
  return Promise.all(seen);
}

const total = (list: Fetched[]) => list.reduce((n, f) => n + f.bytes, 0);

/**
 * Issue 15: static assets were served uncompressed and without cache headers (209 KB for a
 * first Billing load). Measured here in Chromium: the bytes of a first Billing load (HTML,
 * scripts, styles, icon) and of a second visit.
 */
browserSuite('static assets compressed and cached', (s) => {
  it('a first Billing load is compressed, hashed files are immutable, index.html is revalidated', async () => {
    await s.ownerSession(async (page, ctx) => {
      await ctx.clearCookies({ name: 'never' });
      // A new tab with an empty cache: the first Billing load, until the wallets show.
      const fresh = await newContext(s.browser, s.app.baseUrl);
      await fresh.addCookies(await ctx.cookies());
      const first = await fresh.newPage();
      const billing = await recordStatic(first, async () => {
        await first.goto('/billing');
        await first.getByTestId('wallets').waitFor();
      });
      // The rest of the pages' code, fetched while idle.
      const idle = await recordStatic(first, () => first.waitForTimeout(5000));
      // The same files as they were served before (uncompressed bodies, for the report).
      let uncompressed = 0;
      for (const f of billing) {
        const r = await fetch(`${s.app.baseUrl}${f.path}`, {
          headers: { 'accept-encoding': 'identity' },
        });
        uncompressed += (await r.arrayBuffer()).byteLength;
      }
      const compressedBodies = billing.reduce((n, f) => n + f.bodyBytes, 0);
      const again = await recordStatic(first, async () => {
        await first.goto('/billing');
        await first.getByTestId('wallets').waitFor();
      });
      console.log(
        `[assets] first Billing load: ${billing.length} files, bodies ${compressedBodies} bytes ` +
          `(uncompressed ${uncompressed}), with headers ${total(billing)} bytes; ` +
          `idle prefetch: ${idle.length} files, ${total(idle)} bytes; ` +
          `second visit: ${again.length} files, ${total(again)} bytes`,
      );
      console.log(
        billing.map((f) => `${f.path} ${f.status} ${f.encoding ?? '-'} ${f.bodyBytes}`).join('\n'),
      );

      const scriptsAndStyles = billing.filter((f) => /\.(js|css)$/.test(f.path));
      expect(scriptsAndStyles.length).toBeGreaterThan(0);
      for (const f of scriptsAndStyles) {
        // Files under 1 KiB are not worth compressing; every other one is.
        if (f.encoding === null) expect(f.bodyBytes, f.path).toBeLessThan(1024);
        else expect(f.encoding, f.path).toMatch(/^(br|gzip)$/);
        expect(f.cacheControl, f.path).toBe('public, max-age=31536000, immutable');
      }
      const html = billing.find((f) => f.path === '/billing');
      expect(html?.cacheControl).toBe('no-cache');
      expect(compressedBodies).toBeLessThan(uncompressed / 2.5);
      expect(total(billing)).toBeLessThan(140_000);
      // Second visit: hashed files come from the cache; only the page is revalidated.
      expect(again.filter((f) => f.path.startsWith('/assets/') && f.bodyBytes > 0)).toEqual([]);
      await fresh.close();
    });
  });
});
