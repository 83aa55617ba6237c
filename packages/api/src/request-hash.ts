import { hash } from 'node:crypto';
import { stringify } from 'safe-stable-stringify';

/**
 * What tells a replay from a conflict: the request body, keys sorted, without the
 * idempotency key itself.
 */
export function requestHash(operation: string, input: Record<string, unknown>): string {
  const { idempotencyKey: _key, ...body } = input;
  return hash('sha256', `${operation}\u0000${stringify(body) ?? ''}`, 'base64url');
}
