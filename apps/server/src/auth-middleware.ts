import { hash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { sha256, type Caller } from '@credits/api';
import type { Store } from '@credits/store';

/**
 * The session cookie: `__Host-` makes browsers accept it only with `Secure`, `Path=/` and no
 * `Domain`, so no subdomain or plain-http page can set or overwrite it. Chromium accepts
 * Secure cookies from http://localhost and http://127.0.0.1, so development on this machine
 * uses it too.
 */
export const SESSION_COOKIE = '__Host-cw_session';
/**
 * The cookie when `INSECURE_DEV_COOKIES=true` (development over plain http on another host
 * name, where browsers drop Secure cookies): no prefix, no `Secure`. Refused in production.
 */
export const INSECURE_DEV_SESSION_COOKIE = 'cw_session';

/** The session cookie's name for this server. */
export const sessionCookieName = (insecureDevCookies = false) =>
  insecureDevCookies ? INSECURE_DEV_SESSION_COOKIE : SESSION_COOKIE;
/** Cookie-authenticated writes must carry this header: a cross-site form or fetch cannot. */
export const CSRF_HEADER = 'x-credits-csrf';

export type AuthVariables = { caller: Caller | null; viaCookie: boolean };

/** `Authorization: Bearer <token>`: the one header that replaces the session cookie. */
const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** The host of an Origin header, or null when it has none (`Origin: null`, garbage). */
function originHost(origin: string): string | null {
  try {
    return new URL(origin).host;
  } catch {
    return null;
  }
}

function envKeyMatcher(expected: string | undefined) {
  if (!expected) return () => false;
  const want = hash('sha256', expected, 'buffer');
  return (presented: string) => timingSafeEqual(hash('sha256', presented, 'buffer'), want);
}

/** How often one process records a key's use (the store also writes at most once a minute). */
const KEY_TOUCH_MS = 60_000;

/**
 * Record a key's last use without making every request a write: at most once a minute per key
 * and process, in the background; a failed write costs nothing but the timestamp.
 */
function keyToucher(store: Store, clock: () => number): (keyId: string) => void {
  const touched = new Map<string, number>();
  return (keyId) => {
    const now = clock();
    const last = touched.get(keyId);
    if (last !== undefined && now - last < KEY_TOUCH_MS) return;
    if (touched.size >= 10_000) touched.clear();
    touched.set(keyId, now);
    store.accounts.touchApiKey({ id: keyId, now }).catch(() => touched.delete(keyId));
  };
}

/**
 * Resolve the caller once per request: a bearer API key (hashed lookup; the optional
 * bootstrap key from the environment), else the session cookie. Procedures then check
 * access through their base procedure; nothing here grants more than the key's scopes.
 */
export function authMiddleware(deps: {
  store: Store;
  clock: () => number;
  envServiceKey?: string;
  insecureDevCookies?: boolean;
}): MiddlewareHandler<{
  Variables: AuthVariables;
}> {
  const isEnvKey = envKeyMatcher(deps.envServiceKey);
  const cookieName = sessionCookieName(deps.insecureDevCookies);
  const touch = keyToucher(deps.store, deps.clock);
  return async (c, next) => {
    let caller: Caller | null = null;
    let viaCookie = false;
    const bearer = BEARER.exec(c.req.header('authorization') ?? '')?.[1];
    if (bearer) {
      if (isEnvKey(bearer)) {
        caller = {
          kind: 'service',
          id: 'service:env',
          scopes: ['wallets:read', 'usage:write', 'admin'],
        };
      } else {
        const key = await deps.store.accounts.apiKeyByHash(sha256(bearer));
        if (key) touch(key.id);
        if (key?.kind === 'workspace' && key.workspaceId) {
          caller = {
            kind: 'workspace_key',
            id: `key:${key.id}`,
            keyId: key.id,
            workspaceId: key.workspaceId,
            scopes: key.scopes,
          };
        } else if (key?.kind === 'service') {
          caller = { kind: 'service', id: `key:${key.id}`, keyId: key.id, scopes: key.scopes };
        }
      }
    } else {
      const token = getCookie(c, cookieName);
      if (token) {
        const tokenHash = sha256(token);
        const user = await deps.store.accounts.sessionUser({ tokenHash, now: deps.clock() });
        if (user) {
          caller = {
            kind: 'user',
            id: `user:${user.id}`,
            userId: user.id,
            email: user.email,
            isAdmin: user.isAdmin,
            sessionTokenHash: tokenHash,
          };
          viaCookie = true;
        }
      }
    }
    c.set('caller', caller);
    c.set('viaCookie', viaCookie);
    await next();
  };
}

/**
 * Writes to /trpc: JSON only (no form posts), and with a cookie session, the CSRF header
 * and a same-origin Origin when the browser sends one.
 */
export function writeGuard(
  insecureDevCookies = false,
): MiddlewareHandler<{ Variables: AuthVariables }> {
  const cookieName = sessionCookieName(insecureDevCookies);
  return async (c, next) => {
    if (c.req.method !== 'POST') return next();
    const type = c.req.header('content-type') ?? '';
    if (!/^application\/json\b/i.test(type)) {
      return c.json(
        {
          error: {
            message: 'Send JSON (Content-Type: application/json).',
            data: { reason: 'VALIDATION' },
          },
        },
        415,
      );
    }
    const hasCookie = Boolean(getCookie(c, cookieName));
    // Only a Bearer token stops the cookie from authenticating (see authMiddleware), so any
    // other Authorization header leaves the cookie's CSRF rule in force.
    if (hasCookie && !BEARER.test(c.req.header('authorization') ?? '')) {
      const origin = c.req.header('origin');
      const host = c.req.header('host');
      const sameOrigin = !origin || (host !== undefined && originHost(origin) === host);
      if (!c.req.header(CSRF_HEADER) || !sameOrigin) {
        return c.json(
          { error: { message: 'Cross-site request refused.', data: { reason: 'FORBIDDEN' } } },
          403,
        );
      }
    }
    return next();
  };
}

/** `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Path=/, Secure (unless insecure dev). */
export function sessionCookie(
  token: string,
  expiresAt: number,
  now: number,
  insecureDevCookies = false,
): string {
  const maxAge = Math.max(0, Math.floor((expiresAt - now) / 1000));
  return `${sessionCookieName(insecureDevCookies)}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${insecureDevCookies ? '' : '; Secure'}`;
}

export function clearedSessionCookie(insecureDevCookies = false): string {
  return `${sessionCookieName(insecureDevCookies)}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${insecureDevCookies ? '' : '; Secure'}`;
}
