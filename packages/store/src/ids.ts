import { randomUUID } from 'node:crypto';

/** A new row id: `prefix_` and 32 hex digits (`ws_…`, `lot_…`, `hold_…`, `job_…`). */
export function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}
