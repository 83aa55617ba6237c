import type { Driver, TxExecutor } from './executor.js';
import type { AuditEntry, AuditInput } from './account-types.js';

/** Write one audit row inside the caller's transaction, so it stands or falls with the action. */
export async function writeAudit(tx: TxExecutor, a: AuditInput, now: number): Promise<void> {
  await tx.run(
    `INSERT INTO audit_log (actor, action, target, workspace_id, before_state, after_state, reason, created_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    [
      a.actor,
      a.action,
      a.target,
      a.workspaceId ?? null,
      a.before === undefined ? null : JSON.stringify(a.before),
      a.after === undefined ? null : JSON.stringify(a.after),
      a.reason ?? null,
      now,
    ],
  );
}

export const AUDIT_COLUMNS = `id, actor, action, target, workspace_id AS "workspaceId", before_state AS "before",
  after_state AS "after", reason, created_at AS "createdAt"`;
export type AuditRow = Omit<AuditEntry, 'before' | 'after'> & {
  before: string | null;
  after: string | null;
};
export function toAuditEntry(r: AuditRow): AuditEntry {
  return {
    ...r,
    id: Number(r.id),
    createdAt: Number(r.createdAt),
    before: r.before === null ? null : (JSON.parse(r.before) as unknown),
    after: r.after === null ? null : (JSON.parse(r.after) as unknown),
  };
}

/** The audit log: who did what to what, before and after, and why (SPEC 16). */
export class AuditLogStore {
  constructor(private readonly driver: Driver) {}

  audit(input: AuditInput & { now: number }): Promise<void> {
    return this.driver.write((tx) => writeAudit(tx, input, input.now));
  }

  async auditLog(q: {
    actor?: string;
    action?: string;
    workspaceId?: string;
    from?: number;
    to?: number;
    beforeId?: number;
    limit: number;
  }): Promise<{ items: AuditEntry[]; nextBeforeId: number | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown) => {
      where.push(sql);
      params.push(v);
    };
    if (q.actor) add('actor = ?', q.actor);
    if (q.action) add('action = ?', q.action);
    if (q.workspaceId) add('workspace_id = ?', q.workspaceId);
    if (q.from !== undefined) add('created_at >= ?', q.from);
    if (q.to !== undefined) add('created_at < ?', q.to);
    if (q.beforeId !== undefined) add('id < ?', q.beforeId);
    params.push(q.limit + 1);
    const rows = await this.driver.read.all<AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY id DESC LIMIT ?`,
      params,
    );
    const items = rows.slice(0, q.limit).map(toAuditEntry);
    const last = items[items.length - 1];
    return { items, nextBeforeId: rows.length > q.limit && last ? last.id : null };
  }
}
