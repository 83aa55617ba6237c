import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
import type { Context, Handler, MiddlewareHandler } from 'hono';

/**
 * The web app's built files (`WEB_DIST`), served from memory: read and compressed once at
 * start (brotli and gzip for text types over 1 KiB), each with a strong ETag.
 *
 * - `/assets/*` are Vite's content-hashed files: `Cache-Control: public, max-age=31536000,
 *   immutable` (a new build has new names, so a browser never needs to ask again).
 * - Everything else (index.html for every app route, favicon.svg) is `no-cache`: the browser
 *   revalidates with `If-None-Match` and gets `304` when nothing changed, so a deploy is seen
 *   at once.
 * - `Accept-Encoding` picks br, then gzip, then identity; `Vary: Accept-Encoding` always.
 */
export interface StaticFile {
  type: string;
  etag: string;
  identity: Buffer;
  br?: Buffer;
  gzip?: Buffer;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.ico': 'image/x-icon',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.mjs', '.css', '.svg', '.json', '.txt', '.map']);
const MIN_COMPRESS_BYTES = 1024;

export const IMMUTABLE = 'public, max-age=31536000, immutable';
export const REVALIDATE = 'no-cache';

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else out.push(path);
  }
  return out;
}

export function loadStaticFile(path: string, body = readFileSync(path)): StaticFile {
  const ext = extname(path).toLowerCase();
  const file: StaticFile = {
    type: TYPES[ext] ?? 'application/octet-stream',
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    identity: body,
  };
  if (COMPRESSIBLE.has(ext) && body.length >= MIN_COMPRESS_BYTES) {
    const br = brotliCompressSync(body, {
      params: {
        [zlib.BROTLI_PARAM_QUALITY]: 11,
        [zlib.BROTLI_PARAM_SIZE_HINT]: body.length,
      },
    });
    const gz = gzipSync(body, { level: 9 });
    if (br.length < body.length) file.br = br;
    if (gz.length < body.length) file.gzip = gz;
  }
  return file;
}

/** Every file under `root`, by URL path (`/assets/index-abc.js`). */
export function loadStaticFiles(root: string): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  for (const path of walk(root)) {
    files.set(`/${relative(root, path).split(sep).join('/')}`, loadStaticFile(path));
  }
  return files;
}

/** br, gzip or identity, from the request's Accept-Encoding (q=0 refuses). */
export function pickEncoding(
  accept: string | undefined,
  file: StaticFile,
): 'br' | 'gzip' | 'identity' {
  const offered = new Map<string, number>();
  for (const part of (accept ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    offered.set(name, q ? Number(q.slice(2)) || 0 : 1);
  }
  const ok = (n: string) => (offered.get(n) ?? offered.get('*') ?? 0) > 0;
  if (file.br && ok('br')) return 'br';
  if (file.gzip && ok('gzip')) return 'gzip';
  return 'identity';
}

function send(c: Context, file: StaticFile, cacheControl: string): Response {
  const headers = new Headers({
    'content-type': file.type,
    'cache-control': cacheControl,
    etag: file.etag,
    vary: 'Accept-Encoding',
  });
  const inm = c.req.header('if-none-match');
  if (inm && inm.split(',').some((t) => t.trim().replace(/^W\//, '') === file.etag)) {
    return new Response(null, { status: 304, headers });
  }
  const encoding = pickEncoding(c.req.header('accept-encoding'), file);
  const body = encoding === 'identity' ? file.identity : file[encoding]!;
  if (encoding !== 'identity') headers.set('content-encoding', encoding);
  headers.set('content-length', String(body.length));
  return new Response(c.req.method === 'HEAD' ? null : new Uint8Array(body), {
    status: 200,
    headers,
  });
}

/**
 * Serve the built app, mounted after every other route: `files` answers a known file as
 * itself, and `/assets/…` that does not exist with a 404 (a stale page asking for an old
 * chunk must fail visibly, not parse HTML as a script); `index` answers any other GET (an
 * app route such as `/billing`) with index.html.
 */
export function staticAssets(root: string): { files: MiddlewareHandler; index: Handler } {
  const files = loadStaticFiles(root);
  const index = files.get('/index.html');
  if (!index) throw new Error(`no index.html in ${root}`);
  return {
    files: async (c, next) => {
      if (c.req.method !== 'GET' && c.req.method !== 'HEAD') return next();
      const path = c.req.path;
      const file = files.get(path);
      if (file) return send(c, file, path.startsWith('/assets/') ? IMMUTABLE : REVALIDATE);
      if (path.startsWith('/assets/')) return c.text('Not found', 404);
      return next();
    },
    index: (c) => send(c, index, REVALIDATE),
  };
}
