import { createHash } from 'node:crypto';
import { stringify } from 'safe-stable-stringify';

/**
 * What tells a replay from a conflict: the request body, keys sorted, without the
 * idempotency key itself.
 */
export function requestHash(operation: string, input: Record<string, unknown>): string {
  const { idempotencyKey: _key, ...body } = input;
  return createHash('sha256')
    .update(operation)
    .update('\u0000')
    .update(stringify(body) ?? '')
    .digest('base64url');
}
