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
  {
    version: 21,
    name: 'invitations',
    sql: `
CREATE TABLE invitations (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  email TEXT NOT NULL,
  role TEXT NOT NULL CHECK (role IN ('owner','member')),
  token_hash TEXT NOT NULL UNIQUE,
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  sent_count INTEGER NOT NULL DEFAULT 1,
  accepted_at BIGINT,
  accepted_by TEXT,
  revoked_at BIGINT
);
CREATE INDEX invitations_by_workspace ON invitations (workspace_id, created_at)
`,
  },
];
