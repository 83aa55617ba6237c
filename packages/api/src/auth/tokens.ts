import { hash, randomBytes } from 'node:crypto';

/** sha256, base64url: how session tokens and API keys are stored (they are high-entropy). */
export function sha256(value: string): string {
  return hash('sha256', value, 'base64url');
}

export function newSessionToken(): string {
  return randomBytes(32).toString('base64url');
}

/** `cw_<kind>_<secret>`: the prefix tells people what a leaked key is. */
export function newApiKey(kind: 'workspace' | 'service'): { key: string; prefix: string } {
  const key = `cw_${kind === 'workspace' ? 'ws' : 'svc'}_${randomBytes(24).toString('base64url')}`;
  return { key, prefix: key.slice(0, 14) };
}

export const SESSION_TTL_MS = 14 * 24 * 3600 * 1000;
