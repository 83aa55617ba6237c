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
  {
    // Plan orders (SPEC 16: upgrade through checkout): an order is for a pack or for a plan.
    // SQLite cannot drop NOT NULL from pack_id, so it rebuilds the table; the child rows that
    // name an order (auto top-up attempts) stay valid because the dropped parent rows are
    // inserted again under the same ids before the deferred foreign keys are checked at commit.
    version: 23,
    name: 'plan orders',
    sql: {
      sqlite: `
PRAGMA defer_foreign_keys = ON;
CREATE TABLE orders_copy_23 AS SELECT * FROM orders;
DROP TABLE orders;
CREATE TABLE orders (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  pack_id TEXT REFERENCES packs(id),
  wallet TEXT NOT NULL,
  credits BIGINT NOT NULL CHECK (credits > 0),
  price_cents BIGINT NOT NULL,
  currency TEXT NOT NULL,
  provider TEXT NOT NULL,
  provider_session TEXT,
  checkout_url TEXT,
  status TEXT NOT NULL CHECK (status IN ('pending','paid','declined','expired','refunded')),
  lot_id TEXT REFERENCES lots(id),
  refunded_credits BIGINT,
  spent_before_refund BIGINT,
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  kind TEXT NOT NULL DEFAULT 'pack' CHECK (kind IN ('pack','plan')),
  plan_id TEXT REFERENCES plans(id),
  CHECK ((kind = 'pack' AND pack_id IS NOT NULL AND plan_id IS NULL) OR (kind = 'plan' AND plan_id IS NOT NULL AND pack_id IS NULL))
);
INSERT INTO orders (id, workspace_id, pack_id, wallet, credits, price_cents, currency, provider, provider_session,
  checkout_url, status, lot_id, refunded_credits, spent_before_refund, created_by, created_at, updated_at)
  SELECT id, workspace_id, pack_id, wallet, credits, price_cents, currency, provider, provider_session,
  checkout_url, status, lot_id, refunded_credits, spent_before_refund, created_by, created_at, updated_at FROM orders_copy_23;
DROP TABLE orders_copy_23;
CREATE INDEX orders_by_workspace ON orders (workspace_id, created_at);
CREATE UNIQUE INDEX orders_by_session ON orders (provider, provider_session)
`,
      postgres: `
ALTER TABLE orders ALTER COLUMN pack_id DROP NOT NULL;
ALTER TABLE orders ADD COLUMN kind TEXT NOT NULL DEFAULT 'pack' CHECK (kind IN ('pack','plan'));
ALTER TABLE orders ADD COLUMN plan_id TEXT REFERENCES plans(id);
ALTER TABLE orders ADD CONSTRAINT orders_pack_or_plan CHECK ((kind = 'pack' AND pack_id IS NOT NULL AND plan_id IS NULL) OR (kind = 'plan' AND plan_id IS NOT NULL AND pack_id IS NULL))
`,
    },
  },
];
