import type { Dialect } from '../executor.js';

/**
 * Migrations 20–29: the owners' side of the app (SPEC 16). API key use (last used), and
 * later invitations, alert settings, webhook deliveries and receipts. Written like
 * `schema.ts`: one text for every dialect unless a step cannot be.
 */
export const OWNER_MIGRATIONS: {
  version: number;
  name: string;
  sql: string | Record<Dialect, string>;
}[] = [
  {
    version: 20,
    name: 'api key last used',
    sql: `ALTER TABLE api_keys ADD COLUMN last_used_at BIGINT`,
  },
];
