import type { Executor } from './executor.js';
import type { LedgerStore } from './ledger-store.js';
import type { VerifyReport } from './types.js';

/**
 * Every table, parents before children, with the key that orders a stable page walk.
 * `schema_migrations` is not copied: the target runs its own migrations first.
 */
export const COPY_TABLES: readonly { table: string; orderBy: string; reference?: boolean }[] = [
  { table: 'plans', orderBy: 'id', reference: true },
  { table: 'packs', orderBy: 'id', reference: true },
  { table: 'wallet_catalog', orderBy: 'kind', reference: true },
  { table: 'workspaces', orderBy: 'id' },
  { table: 'wallets', orderBy: 'workspace_id, kind' },
  { table: 'users', orderBy: 'id' },
  { table: 'memberships', orderBy: 'workspace_id, user_id' },
  { table: 'sessions', orderBy: 'token_hash' },
  { table: 'api_keys', orderBy: 'id' },
  { table: 'invitations', orderBy: 'id' },
  { table: 'lots', orderBy: 'id' },
  { table: 'jobs', orderBy: 'id' },
  { table: 'hold_lots', orderBy: 'job_id, lot_id' },
  { table: 'ledger_entries', orderBy: 'id' },
  { table: 'idempotency_keys', orderBy: 'scope, key' },
  { table: 'rule_versions', orderBy: 'version' },
  { table: 'rule_state', orderBy: 'id' },
  { table: 'orders', orderBy: 'id' },
  { table: 'webhook_events', orderBy: 'provider, event_id' },
  { table: 'notifications', orderBy: 'id' },
  { table: 'webhook_deliveries', orderBy: 'id' },
  { table: 'wallet_low_thresholds', orderBy: 'workspace_id, wallet' },
  { table: 'audit_log', orderBy: 'id' },
  { table: 'spend_limits', orderBy: 'workspace_id, wallet, scope, subject_id' },
  {
    table: 'spend_limit_alerts',
    orderBy: 'workspace_id, wallet, scope, subject_id, cycle_key, threshold',
  },
  { table: 'spend_counters', orderBy: 'workspace_id, wallet, actor, bucket' },
  { table: 'payment_methods', orderBy: 'id' },
  { table: 'auto_top_up_consents', orderBy: 'id' },
  { table: 'auto_top_ups', orderBy: 'workspace_id, wallet' },
  { table: 'auto_top_up_attempts', orderBy: 'id' },
];

/** Tables whose integer ids PostgreSQL generates: their sequences move past copied ids. */
const IDENTITY_TABLES = ['ledger_entries', 'audit_log', 'notifications', 'webhook_deliveries'];

const PAGE = 500;

async function walk(
  src: Executor,
  table: string,
  orderBy: string,
  each: (rows: Record<string, unknown>[]) => Promise<void>,
): Promise<number> {
  let offset = 0;
  let total = 0;
  for (;;) {
    const rows = await src.all<Record<string, unknown>>(
      `SELECT * FROM ${table} ORDER BY ${orderBy} LIMIT ? OFFSET ?`,
      [PAGE, offset],
    );
    if (rows.length === 0) return total;
    await each(rows);
    total += rows.length;
    offset += rows.length;
  }
}

/**
 * Copy a whole installation (workspaces, lots, ledger, holds, orders, rules, keys, audit…)
 * from one store to another in one target transaction — all of it or none — reading the
 * source from one consistent snapshot. Refuses a target that already has accounts or money
 * in it. Runs `verify` on the target afterwards.
 */
export async function copyStore(input: {
  from: LedgerStore;
  to: LedgerStore;
}): Promise<{ rows: Record<string, number>; verify: VerifyReport }> {
  const source = input.from.rawDriver();
  const target = input.to.rawDriver();
  await input.to.migrate();
  const rows: Record<string, number> = {};
  await source.snapshot(async (src) =>
    target.write(async (dst) => {
      for (const t of ['workspaces', 'users', 'ledger_entries', 'api_keys', 'audit_log']) {
        const any = await dst.get(`SELECT 1 AS x FROM ${t} LIMIT 1`);
        if (any)
          throw new Error(
            `the target is not empty (table ${t} has rows); copy refuses to merge installations`,
          );
      }
      // The target's seeded reference data and default rule set give way to the source's.
      for (const t of ['rule_state', 'rule_versions', 'wallet_catalog', 'packs', 'plans'])
        await dst.run(`DELETE FROM ${t}`);
      for (const { table, orderBy } of COPY_TABLES) {
        rows[table] = await walk(src, table, orderBy, async (page) => {
          const columns = Object.keys(page[0]!);
          const placeholders = `(${columns.map(() => '?').join(', ')})`;
          await dst.run(
            `INSERT INTO ${table} (${columns.join(', ')}) VALUES ${page.map(() => placeholders).join(', ')}`,
            page.flatMap((r) => columns.map((c) => r[c] ?? null)),
          );
        });
      }
      if (target.dialect === 'postgres') {
        for (const table of IDENTITY_TABLES) {
          await dst.run(
            `SELECT setval(pg_get_serial_sequence('${table}', 'id'), COALESCE((SELECT MAX(id) FROM ${table}), 0) + 1, false)`,
          );
        }
      }
    }),
  );
  await input.to.refreshCatalog();
  return { rows, verify: await input.to.verify() };
}
