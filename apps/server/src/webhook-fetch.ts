import { lookup as dnsLookup } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { isPublicAddress, normalizeHost } from '@credits/api';

/**
 * The subset of `fetch` alert delivery uses. The default is {@link webhookFetch}, which
 * refuses every non-public address at connect time; tests pass a fake or a `webhookFetch`
 * with an injected resolver.
 */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

/** One resolved address, as `dns.lookup(host, { all: true })` gives them. */
export interface ResolvedAddress {
  address: string;
  family: number;
}

export interface WebhookFetchOptions {
  /**
   * Resolve a host name to its addresses. Default: the system resolver (`dns.lookup`, all
   * addresses). Tests inject one to play a DNS server (names that resolve differently on
   * each call, names that resolve to private addresses).
   */
  resolve?: (host: string) => Promise<ResolvedAddress[]>;
  /**
   * Which resolved addresses may be connected to. Default {@link isPublicAddress}. Only test
   * harnesses pass another (to deliver to a listener on 127.0.0.1); the server never does,
   * and no setting reaches it.
   */
  allowAddress?: (address: string) => boolean;
  /** Response headers larger than this fail the request (bytes; default 8 KB). */
  maxHeaderBytes?: number;
}

/** Why a delivery was refused before any connection; never shown to owners (they see "failed"). */
export class WebhookAddressRefused extends Error {
  constructor(host: string) {
    super(`webhook host ${host} is not a public address`);
    this.name = 'WebhookAddressRefused';
  }
}

const systemResolve = (host: string) =>
  new Promise<ResolvedAddress[]>((resolve, reject) =>
    dnsLookup(host, { all: true, verbatim: true }, (err, addresses) =>
      err ? reject(err) : resolve(addresses),
    ),
  );

/**
 * The `lookup` a socket uses to turn the URL's host into an address: it resolves the name
 * and refuses unless *every* address is allowed, so the address checked is the address
 * connected to (no second resolution a DNS change could switch). Answers in both shapes
 * `net.connect` asks for (`all: true` with happy eyeballs, or one address).
 */
export function guardedLookup(opts: WebhookFetchOptions = {}): LookupFunction {
  const resolve = opts.resolve ?? systemResolve;
  const allow = opts.allowAddress ?? isPublicAddress;
  return (hostname, options, callback) => {
    const host = normalizeHost(hostname);
    resolve(host).then(
      (found) => {
        const wanted = found.filter(
          (a) => !options.family || options.family === a.family || options.family === 0,
        );
        if (wanted.length === 0 || !wanted.every((a) => allow(a.address))) {
          const err = Object.assign(new WebhookAddressRefused(host), { code: 'EADDRNOTAVAIL' });
          callback(err, '', 0);
          return;
        }
        if (options.all) callback(null, wanted);
        else callback(null, wanted[0]!.address, wanted[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

/**
 * A `fetch` for alert webhooks that cannot reach the server's own network: every address is
 * checked at connect time through {@link guardedLookup} (IP literals before any socket is
 * opened), trailing dots removed, no redirects followed (a 3xx is just a status), no proxy
 * from the environment, the caller's `signal` bounds the whole request, and the response
 * body is never read (the socket is closed once the status line and headers are in).
 *
 * @example
 * const send = webhookFetch();
 * const res = await send('https://hooks.example.com/x', { method: 'POST', body: '{}', signal });
 */
export function webhookFetch(opts: WebhookFetchOptions = {}): FetchLike {
  const allow = opts.allowAddress ?? isPublicAddress;
  const lookup = guardedLookup(opts);
  const maxHeaderSize = opts.maxHeaderBytes ?? 8 * 1024;
  return (raw, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = new URL(raw);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        reject(new WebhookAddressRefused(url.protocol));
        return;
      }
      const host = normalizeHost(url.hostname);
      if (isIP(host) !== 0 && !allow(host)) {
        reject(new WebhookAddressRefused(host));
        return;
      }
      const mod = url.protocol === 'https:' ? https : http;
      const headers = new Headers(init.headers);
      const req = mod.request({
        protocol: url.protocol,
        host,
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: init.method ?? 'POST',
        headers: {
          ...Object.fromEntries(headers.entries()),
          host: url.port ? `${host.includes(':') ? `[${host}]` : host}:${url.port}` : host,
        },
        lookup,
        // A fresh connection per delivery: nothing pooled that another host's check passed.
        agent: false,
        maxHeaderSize,
        signal: init.signal ?? undefined,
        ...(url.protocol === 'https:' && isIP(host) === 0 ? { servername: host } : {}),
      });
      req.once('response', (res) => {
        const status = res.statusCode ?? 0;
        // The body is not read: close the socket now, whatever the receiver meant to send.
        res.destroy();
        req.destroy();
        resolve(
          status >= 200 && status <= 599
            ? new Response(null, { status })
            : new Response(null, { status: 502 }),
        );
      });
      req.once('error', reject);
      const body = init.body;
      if (typeof body === 'string' || body instanceof Uint8Array) req.end(body);
      else req.end();
    });
}
