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
  {
    version: 22,
    name: 'webhook delivery log',
    sql: `
CREATE TABLE webhook_deliveries (
  id {{id}},
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  notification_id BIGINT NOT NULL,
  url TEXT NOT NULL,
  ok INTEGER NOT NULL,
  status_code INTEGER,
  error TEXT,
  duration_ms INTEGER NOT NULL,
  attempted_at BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_by_workspace ON webhook_deliveries (workspace_id, id)
`,
  },
];
