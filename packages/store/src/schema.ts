import type { Dialect, Executor } from './executor.js';
import { CONTROLS_MIGRATIONS } from './controls/schema.js';
import { OWNER_MIGRATIONS } from './owner/schema.js';

/**
 * Versioned migrations. One text per migration, written in the SQL that SQLite, PostgreSQL
 * and the Postgres-compatible distributed engines all accept; `{{id}}` is the only dialect
 * token (an auto-increasing integer key).
 */
const MIGRATIONS: { version: number; name: string; sql: string | Record<Dialect, string> }[] = [
  {
    version: 1,
    name: 'ledger',
    sql: `
CREATE TABLE workspaces (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  plan TEXT NOT NULL,
  features TEXT NOT NULL DEFAULT '[]',
  billing_anchor_day INTEGER NOT NULL CHECK (billing_anchor_day BETWEEN 1 AND 31),
  created_at BIGINT NOT NULL
);
CREATE TABLE wallets (
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  kind TEXT NOT NULL,
  available BIGINT NOT NULL DEFAULT 0 CHECK (available >= 0),
  held BIGINT NOT NULL DEFAULT 0 CHECK (held >= 0),
  PRIMARY KEY (workspace_id, kind)
);
CREATE TABLE lots (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL,
  wallet TEXT NOT NULL,
  source TEXT NOT NULL CHECK (source IN ('plan_allowance','purchase','trial','promo','adjustment')),
  granted BIGINT NOT NULL CHECK (granted > 0),
  remaining BIGINT NOT NULL CHECK (remaining >= 0 AND remaining <= granted),
  expires_at BIGINT,
  restriction TEXT,
  order_id TEXT,
  cycle_key TEXT,
  created_at BIGINT NOT NULL,
  expired_at BIGINT,
  FOREIGN KEY (workspace_id, wallet) REFERENCES wallets(workspace_id, kind)
);
CREATE INDEX lots_by_wallet ON lots (workspace_id, wallet);
CREATE INDEX lots_by_expiry ON lots (expires_at);
CREATE UNIQUE INDEX lots_one_per_cycle ON lots (workspace_id, wallet, cycle_key);
CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  wallet TEXT NOT NULL,
  kind TEXT NOT NULL,
  job TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('reserved','completed','failed','expired')),
  held BIGINT NOT NULL CHECK (held >= 0),
  captured BIGINT,
  rule_version INTEGER,
  breakdown TEXT NOT NULL DEFAULT '[]',
  trial_applies INTEGER NOT NULL DEFAULT 0,
  actor TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  expires_at BIGINT,
  settled_at BIGINT
);
CREATE INDEX jobs_by_workspace ON jobs (workspace_id, created_at);
CREATE INDEX jobs_by_expiry ON jobs (status, expires_at);
CREATE TABLE hold_lots (
  job_id TEXT NOT NULL REFERENCES jobs(id),
  lot_id TEXT NOT NULL REFERENCES lots(id),
  position INTEGER NOT NULL,
  amount BIGINT NOT NULL CHECK (amount >= 0),
  PRIMARY KEY (job_id, lot_id)
);
CREATE TABLE ledger_entries (
  id {{id}},
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  wallet TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('grant','purchase','trial','hold','spend','return','expire','refund','adjustment')),
  amount BIGINT NOT NULL,
  available_delta BIGINT NOT NULL,
  held_delta BIGINT NOT NULL,
  balance_after BIGINT NOT NULL CHECK (balance_after >= 0),
  held_after BIGINT NOT NULL CHECK (held_after >= 0),
  job_id TEXT,
  order_id TEXT,
  rule_version INTEGER,
  actor TEXT NOT NULL,
  description TEXT NOT NULL,
  lots TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX ledger_by_workspace ON ledger_entries (workspace_id, id);
CREATE INDEX ledger_by_wallet ON ledger_entries (workspace_id, wallet, id);
CREATE TABLE idempotency_keys (
  scope TEXT NOT NULL,
  key TEXT NOT NULL,
  operation TEXT NOT NULL,
  request_hash TEXT NOT NULL,
  response TEXT,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_by_age ON idempotency_keys (created_at);
CREATE TABLE rule_versions (
  version INTEGER PRIMARY KEY,
  document TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  created_by TEXT NOT NULL,
  reason TEXT NOT NULL,
  rolled_back_from INTEGER
);
CREATE TABLE rule_state (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  active_version INTEGER NOT NULL REFERENCES rule_versions(version),
  draft TEXT,
  draft_updated_at BIGINT,
  draft_updated_by TEXT
);
`,
  },
  {
    version: 2,
    name: 'accounts',
    sql: `
CREATE TABLE users (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  name TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  is_admin INTEGER NOT NULL DEFAULT 0,
  created_at BIGINT NOT NULL
);
CREATE TABLE memberships (
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  user_id TEXT NOT NULL REFERENCES users(id),
  role TEXT NOT NULL CHECK (role IN ('owner','member')),
  created_at BIGINT NOT NULL,
  PRIMARY KEY (workspace_id, user_id)
);
CREATE INDEX memberships_by_user ON memberships (user_id);
CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  revoked_at BIGINT
);
CREATE INDEX sessions_by_user ON sessions (user_id);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  key_hash TEXT NOT NULL UNIQUE,
  prefix TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('workspace','service')),
  workspace_id TEXT REFERENCES workspaces(id),
  scopes TEXT NOT NULL,
  name TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT,
  CHECK ((kind = 'workspace') = (workspace_id IS NOT NULL))
);
CREATE INDEX api_keys_by_workspace ON api_keys (workspace_id);
CREATE TABLE audit_log (
  id {{id}},
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  workspace_id TEXT,
  before_state TEXT,
  after_state TEXT,
  reason TEXT,
  created_at BIGINT NOT NULL
);
CREATE INDEX audit_by_time ON audit_log (created_at);
CREATE INDEX audit_by_workspace ON audit_log (workspace_id, id);
`,
  },
  {
    version: 3,
    name: 'billing',
    sql: `
CREATE TABLE plans (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  ai_tokens_per_cycle BIGINT NOT NULL CHECK (ai_tokens_per_cycle >= 0),
  price_cents BIGINT NOT NULL CHECK (price_cents >= 0),
  features TEXT NOT NULL,
  trial_eligible INTEGER NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  updated_at BIGINT NOT NULL
);
CREATE TABLE packs (
  id TEXT PRIMARY KEY,
  wallet TEXT NOT NULL,
  credits BIGINT NOT NULL CHECK (credits > 0),
  price_cents BIGINT NOT NULL CHECK (price_cents > 0),
  currency TEXT NOT NULL,
  active INTEGER NOT NULL DEFAULT 1,
  updated_at BIGINT NOT NULL
);
CREATE TABLE wallet_catalog (
  kind TEXT PRIMARY KEY,
  label TEXT NOT NULL,
  used_for TEXT NOT NULL,
  available INTEGER NOT NULL,
  low_threshold BIGINT NOT NULL CHECK (low_threshold >= 0),
  updated_at BIGINT NOT NULL
);
CREATE TABLE orders (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  pack_id TEXT NOT NULL REFERENCES packs(id),
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
  updated_at BIGINT NOT NULL
);
CREATE INDEX orders_by_workspace ON orders (workspace_id, created_at);
CREATE UNIQUE INDEX orders_by_session ON orders (provider, provider_session);
CREATE TABLE webhook_events (
  provider TEXT NOT NULL,
  event_id TEXT NOT NULL,
  type TEXT NOT NULL,
  order_id TEXT,
  received_at BIGINT NOT NULL,
  PRIMARY KEY (provider, event_id)
);
CREATE TABLE notifications (
  id {{id}},
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  wallet TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('low','empty')),
  balance BIGINT NOT NULL,
  message TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  read_at BIGINT,
  delivery TEXT NOT NULL DEFAULT 'none' CHECK (delivery IN ('none','pending','delivered','failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at BIGINT
);
CREATE INDEX notifications_by_workspace ON notifications (workspace_id, id);
CREATE INDEX notifications_by_delivery ON notifications (delivery, next_attempt_at);
ALTER TABLE workspaces ADD COLUMN pending_plan TEXT;
ALTER TABLE workspaces ADD COLUMN alert_webhook_url TEXT;
ALTER TABLE workspaces ADD COLUMN alert_webhook_secret TEXT
`,
  },
  {
    // Issue 11: /readyz writes one row here (a bounded upsert) to know the store takes writes.
    // Not business data: store-copy leaves it out.
    version: 4,
    name: 'health probe',
    sql: `CREATE TABLE health_probe (id TEXT PRIMARY KEY, probed_at BIGINT NOT NULL)`,
  },
  {
    version: 10,
    name: 'rate limits',
    sql: `
CREATE TABLE rate_limits (
  key TEXT PRIMARY KEY,
  window_start BIGINT NOT NULL,
  hits INTEGER NOT NULL CHECK (hits > 0),
  last_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL
);
CREATE INDEX rate_limits_by_expiry ON rate_limits (expires_at)
`,
  },
  {
    version: 11,
    name: 'sessions and password resets',
    sql: `
CREATE TABLE password_resets (
  token_hash TEXT PRIMARY KEY,
  user_id TEXT NOT NULL REFERENCES users(id),
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  used_at BIGINT
);
CREATE INDEX password_resets_by_user ON password_resets (user_id);
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
CREATE INDEX audit_by_target ON audit_log (target, id)
`,
  },
  {
    // Bumped by every change to a wallet's balances (which every change to its lots makes):
    // an adapter that remembers a wallet checks this, not only the balances, before writing.
    version: 40,
    name: 'wallet versions',
    sql: `ALTER TABLE wallets ADD COLUMN version BIGINT NOT NULL DEFAULT 0`,
  },
  {
    // Issue 15: a new trial workspace's 50 free video credits read "Low" at the old seeded
    // threshold of 50. The seed is now 20; a catalog an admin has edited keeps its value.
    version: 50,
    name: 'video low threshold below the trial grant',
    sql: `UPDATE wallet_catalog SET low_threshold = 20 WHERE kind = 'video_credits' AND low_threshold = 50`,
  },
  {
    // Issue 15: owners set each wallet's "low" threshold for their workspace; a wallet with no
    // row here uses the catalog's threshold.
    version: 51,
    name: 'low thresholds per workspace wallet',
    sql: `
CREATE TABLE wallet_low_thresholds (
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  wallet TEXT NOT NULL,
  low_threshold BIGINT NOT NULL CHECK (low_threshold >= 0),
  updated_by TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (workspace_id, wallet)
)`,
  },
  {
    // Issue 15: the history pages by job (a job's steps are found by its id).
    version: 52,
    name: 'ledger entries by job',
    sql: `CREATE INDEX ledger_by_job ON ledger_entries (workspace_id, job_id, id)`,
  },
];

const ID_COLUMN: Record<Dialect, string> = {
  sqlite: 'INTEGER PRIMARY KEY AUTOINCREMENT',
  postgres: 'BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY',
};

/** The migrations, in order, written for one dialect. */
export function migrationsFor(dialect: Dialect): { version: number; name: string; sql: string }[] {
  return [...MIGRATIONS, ...CONTROLS_MIGRATIONS, ...OWNER_MIGRATIONS]
    .sort((a, b) => a.version - b.version)
    .map((m) => ({
      ...m,
      sql: (typeof m.sql === 'string' ? m.sql : m.sql[dialect]).replaceAll(
        '{{id}}',
        ID_COLUMN[dialect],
      ),
    }));
}

/** Apply the migrations not yet recorded in `schema_migrations`, in order, inside `tx`. */
export async function applyMigrations(
  tx: Executor,
  migrations: readonly { version: number; name: string; sql: string }[],
): Promise<number> {
  const done = new Set(
    (await tx.all<{ version: number }>('SELECT version FROM schema_migrations')).map(
      (r) => r.version,
    ),
  );
  let applied = 0;
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    for (const statement of m.sql
      .split(';')
      .map((s) => s.trim())
      .filter(Boolean)) {
      await tx.run(statement);
    }
    await tx.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [
      m.version,
      m.name,
      Date.now(),
    ]);
    applied += 1;
  }
  return applied;
}
