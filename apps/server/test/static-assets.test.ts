import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { Hono } from 'hono';
import { IMMUTABLE, REVALIDATE, pickEncoding, staticAssets } from '../src/static-assets.js';

const dir = mkdtempSync(join(tmpdir(), 'credits-static-'));
const script = `console.log(${JSON.stringify('x'.repeat(4000))});\n`;
mkdirSync(join(dir, 'assets'));
writeFileSync(join(dir, 'index.html'), `<!doctype html><title>app</title>${' '.repeat(2000)}`);
writeFileSync(join(dir, 'assets', 'index-abc123.js'), script);
writeFileSync(join(dir, 'favicon.svg'), '<svg/>');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const app = new Hono();
app.get('/trpc/x', (c) => c.text('api'));
const web = staticAssets(dir);
app.use('/*', web.files);
app.get('*', web.index);

const get = (path: string, headers: Record<string, string> = {}) => app.request(path, { headers });

describe('static assets', () => {
  it('serves hashed files brotli- or gzip-compressed, immutable, with an ETag', async () => {
    const br = await get('/assets/index-abc123.js', { 'accept-encoding': 'gzip, deflate, br' });
    expect(br.status).toBe(200);
    expect(br.headers.get('content-encoding')).toBe('br');
    expect(br.headers.get('cache-control')).toBe(IMMUTABLE);
    expect(br.headers.get('vary')).toBe('Accept-Encoding');
    expect(br.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    const brBody = Buffer.from(await br.arrayBuffer());
    expect(brBody.length).toBeLessThan(script.length / 10);
    expect(brotliDecompressSync(brBody).toString()).toBe(script);

    const gz = await get('/assets/index-abc123.js', { 'accept-encoding': 'gzip' });
    expect(gz.headers.get('content-encoding')).toBe('gzip');
    expect(gunzipSync(Buffer.from(await gz.arrayBuffer())).toString()).toBe(script);

    const plain = await get('/assets/index-abc123.js');
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(await plain.text()).toBe(script);
  });

  it('answers index.html for app routes with no-cache, and 304 when unchanged', async () => {
    const page = await get('/billing', { 'accept-encoding': 'br' });
    expect(page.status).toBe(200);
    expect(page.headers.get('cache-control')).toBe(REVALIDATE);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const etag = page.headers.get('etag')!;
    const again = await get('/billing', { 'if-none-match': etag });
    expect(again.status).toBe(304);
    expect(await again.text()).toBe('');
    expect((await get('/favicon.svg')).headers.get('cache-control')).toBe(REVALIDATE);
  });

  it('a missing hashed file is a 404, not index.html; routes before it still answer', async () => {
    expect((await get('/assets/index-old999.js')).status).toBe(404);
    expect(await (await get('/trpc/x')).text()).toBe('api');
  });

  it('reads Accept-Encoding with q-values', () => {
    const file = {
      type: 't',
      etag: '"e"',
      identity: Buffer.alloc(1),
      br: Buffer.alloc(1),
      gzip: Buffer.alloc(1),
    };
    expect(pickEncoding('br;q=0, gzip', file)).toBe('gzip');
    expect(pickEncoding('*', file)).toBe('br');
    expect(pickEncoding('identity', file)).toBe('identity');
    expect(pickEncoding(undefined, file)).toBe('identity');
  });
});
