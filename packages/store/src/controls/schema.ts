import type { Dialect } from '../executor.js';

/** Saved payment methods, auto top-up consents, settings and attempts. */
const AUTO_TOP_UP_TABLES = `
CREATE TABLE payment_methods (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  provider TEXT NOT NULL,
  customer_ref TEXT,
  method_ref TEXT NOT NULL,
  label TEXT NOT NULL,
  created_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  removed_at BIGINT
);
CREATE UNIQUE INDEX payment_methods_by_ref ON payment_methods (provider, method_ref);
CREATE INDEX payment_methods_by_workspace ON payment_methods (workspace_id, provider, created_at);
CREATE TABLE auto_top_up_consents (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  wallet TEXT NOT NULL,
  given_by TEXT NOT NULL,
  given_at BIGINT NOT NULL,
  terms TEXT NOT NULL,
  pack_id TEXT NOT NULL REFERENCES packs(id),
  pack_credits BIGINT NOT NULL CHECK (pack_credits > 0),
  price_cents BIGINT NOT NULL CHECK (price_cents > 0),
  currency TEXT NOT NULL,
  threshold BIGINT NOT NULL CHECK (threshold >= 0),
  monthly_cap_cents BIGINT NOT NULL CHECK (monthly_cap_cents >= price_cents)
);
CREATE INDEX auto_top_up_consents_by_wallet ON auto_top_up_consents (workspace_id, wallet, given_at);
CREATE TABLE auto_top_ups (
  workspace_id TEXT NOT NULL,
  wallet TEXT NOT NULL,
  enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
  consent_id TEXT NOT NULL REFERENCES auto_top_up_consents(id),
  consecutive_failures INTEGER NOT NULL DEFAULT 0 CHECK (consecutive_failures >= 0),
  disabled_reason TEXT,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (workspace_id, wallet),
  FOREIGN KEY (workspace_id, wallet) REFERENCES wallets(workspace_id, kind)
);
CREATE TABLE auto_top_up_attempts (
  id TEXT PRIMARY KEY,
  workspace_id TEXT NOT NULL,
  wallet TEXT NOT NULL,
  crossing_key TEXT NOT NULL,
  cycle_key TEXT NOT NULL,
  consent_id TEXT NOT NULL REFERENCES auto_top_up_consents(id),
  order_id TEXT REFERENCES orders(id),
  price_cents BIGINT NOT NULL CHECK (price_cents > 0),
  status TEXT NOT NULL CHECK (status IN ('pending','paid','declined','failed')),
  created_at BIGINT NOT NULL,
  settled_at BIGINT,
  UNIQUE (workspace_id, wallet, crossing_key),
  UNIQUE (order_id)
);
CREATE UNIQUE INDEX auto_top_up_one_in_flight ON auto_top_up_attempts (workspace_id, wallet) WHERE status = 'pending';
CREATE INDEX auto_top_up_attempts_by_cycle ON auto_top_up_attempts (workspace_id, wallet, cycle_key)
`;

/**
 * Migrations 30–39: spend controls (SPEC 15). Spending limits and the thresholds each has
 * alerted this cycle; saved payment methods, auto top-up consents, settings and attempts.
 * Written like `schema.ts`: one text for every dialect unless a step cannot be.
 */
export const CONTROLS_MIGRATIONS: {
  version: number;
  name: string;
  sql: string | Record<Dialect, string>;
}[] = [
  {
    version: 30,
    name: 'spend_limits',
    sql: `
CREATE TABLE spend_limits (
  workspace_id TEXT NOT NULL,
  wallet TEXT NOT NULL,
  scope TEXT NOT NULL CHECK (scope IN ('workspace','member','key')),
  subject_id TEXT NOT NULL,
  amount BIGINT NOT NULL CHECK (amount >= 0),
  mode TEXT NOT NULL CHECK (mode IN ('hard','soft')),
  thresholds TEXT NOT NULL,
  updated_by TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (workspace_id, wallet, scope, subject_id),
  CHECK ((scope = 'workspace') = (subject_id = '')),
  FOREIGN KEY (workspace_id, wallet) REFERENCES wallets(workspace_id, kind)
);
CREATE TABLE spend_limit_alerts (
  workspace_id TEXT NOT NULL REFERENCES workspaces(id),
  wallet TEXT NOT NULL,
  scope TEXT NOT NULL,
  subject_id TEXT NOT NULL,
  cycle_key TEXT NOT NULL,
  threshold INTEGER NOT NULL CHECK (threshold BETWEEN 1 AND 100),
  used BIGINT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (workspace_id, wallet, scope, subject_id, cycle_key, threshold)
)
`,
  },
  {
    // Spend controls notify too (a limit's threshold, auto top-up turned off), so the
    // notification kinds widen first. SQLite cannot alter a CHECK: its stored definition is
    // edited in place (SQLite's documented procedure for loosening a constraint; no row
    // changes), and the CREATE TABLEs after it make every connection read the schema again.
    version: 31,
    name: 'auto_top_up',
    sql: {
      sqlite: `
PRAGMA writable_schema = ON;
UPDATE sqlite_schema SET sql = replace(sql, 'CHECK (kind IN (''low'',''empty''))', 'CHECK (kind IN (''low'',''empty'',''limit_threshold'',''auto_top_up_off''))')
  WHERE type = 'table' AND name = 'notifications';
PRAGMA writable_schema = RESET;
${AUTO_TOP_UP_TABLES}`,
      postgres: `
ALTER TABLE notifications DROP CONSTRAINT notifications_kind_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_kind_check CHECK (kind IN ('low','empty','limit_threshold','auto_top_up_off'));
${AUTO_TOP_UP_TABLES}`,
    },
  },
  {
    // What counts against spending limits, kept while a wallet has any: per actor, the
    // credits of open holds (bucket 'held') and the credits spent in a cycle (bucket = the
    // cycle's key). Written in the money operation's own transaction, after the wallet row is
    // locked, so a limit check reads exact figures; rebuilt from jobs when a limit is set.
    version: 32,
    name: 'spend_counters',
    sql: `
CREATE TABLE spend_counters (
  workspace_id TEXT NOT NULL,
  wallet TEXT NOT NULL,
  actor TEXT NOT NULL,
  bucket TEXT NOT NULL,
  amount BIGINT NOT NULL CHECK (amount >= 0),
  PRIMARY KEY (workspace_id, wallet, actor, bucket),
  FOREIGN KEY (workspace_id, wallet) REFERENCES wallets(workspace_id, kind)
)
`,
  },
  {
    // Refunds of finished jobs: how much of a job's cost has been refunded so far. A refund
    // moves it with a conditional UPDATE (refunded + credits <= captured), so the database
    // itself keeps a job's refunds within what it cost.
    version: 33,
    name: 'job_refunds',
    sql: `ALTER TABLE jobs ADD COLUMN refunded BIGINT NOT NULL DEFAULT 0`,
  },
];
