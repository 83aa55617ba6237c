import { hash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { sha256, type Caller } from '@credits/api';
import type { Store } from '@credits/store';

export const SESSION_COOKIE = 'cw_session';
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

/**
 * Resolve the caller once per request: a bearer API key (hashed lookup; the optional
 * bootstrap key from the environment), else the session cookie. Procedures then check
 * access through their base procedure; nothing here grants more than the key's scopes.
 */
export function authMiddleware(deps: {
  store: Store;
  clock: () => number;
  envServiceKey?: string;
}): MiddlewareHandler<{
  Variables: AuthVariables;
}> {
  const isEnvKey = envKeyMatcher(deps.envServiceKey);
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
      const token = getCookie(c, SESSION_COOKIE);
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
export function writeGuard(): MiddlewareHandler<{ Variables: AuthVariables }> {
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
    const hasCookie = Boolean(getCookie(c, SESSION_COOKIE));
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

export function sessionCookie(
  token: string,
  expiresAt: number,
  now: number,
  secure: boolean,
): string {
  const maxAge = Math.max(0, Math.floor((expiresAt - now) / 1000));
  return `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${secure ? '; Secure' : ''}`;
}

export function clearedSessionCookie(secure: boolean): string {
  return `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secure ? '; Secure' : ''}`;
}
