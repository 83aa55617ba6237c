import { CreditsError } from '@credits/domain';
import type { Driver, Executor } from './executor.js';
import { writeAudit } from './audit-log.js';
import type { PublishRulesInput, RuleVersion } from './types.js';

/** Rule storage: published versions (one active), the shared draft. */

const ACTIVE_RULES_SQL = `SELECT v.version, v.document, v.created_at AS "createdAt", v.created_by AS "createdBy",
  v.reason, v.rolled_back_from AS "rolledBackFrom"
  FROM rule_state s JOIN rule_versions v ON v.version = s.active_version WHERE s.id = 1`;

type RuleRow = Omit<RuleVersion, 'document'> & { document: string };
function toRuleVersion(r: RuleRow): RuleVersion {
  return {
    ...r,
    version: Number(r.version),
    createdAt: Number(r.createdAt),
    rolledBackFrom: r.rolledBackFrom === null ? null : Number(r.rolledBackFrom),
    document: JSON.parse(r.document),
  };
}

export async function activeRules(read: Executor): Promise<RuleVersion | null> {
  const row = await read.get<RuleRow>(ACTIVE_RULES_SQL);
  return row ? toRuleVersion(row) : null;
}

export async function ruleVersions(read: Executor): Promise<Omit<RuleVersion, 'document'>[]> {
  const rows = await read.all<Omit<RuleRow, 'document'>>(
    `SELECT version, created_at AS "createdAt", created_by AS "createdBy", reason,
      rolled_back_from AS "rolledBackFrom" FROM rule_versions ORDER BY version DESC`,
  );
  return rows.map((r) => ({
    ...r,
    version: Number(r.version),
    createdAt: Number(r.createdAt),
    rolledBackFrom: r.rolledBackFrom === null ? null : Number(r.rolledBackFrom),
  }));
}

export async function getRuleVersion(read: Executor, version: number): Promise<RuleVersion | null> {
  const row = await read.get<RuleRow>(
    `SELECT version, document, created_at AS "createdAt", created_by AS "createdBy", reason,
      rolled_back_from AS "rolledBackFrom" FROM rule_versions WHERE version = ?`,
    [version],
  );
  return row ? toRuleVersion(row) : null;
}

export function publishRules(driver: Driver, input: PublishRulesInput): Promise<RuleVersion> {
  return driver.write(async (tx) => {
    // One publisher at a time: the rule_state row may not exist yet to lock (PostgreSQL;
    // SQLite's writer is exclusive already).
    if (driver.dialect === 'postgres') await tx.run('SELECT pg_advisory_xact_lock(7267127)');
    const current = await tx.get<RuleRow>(ACTIVE_RULES_SQL);
    if (current && input.onlyIfNone) return toRuleVersion(current);
    const live = current ? Number(current.version) : null;
    if (input.expectedActiveVersion !== undefined && live !== input.expectedActiveVersion) {
      throw new CreditsError(
        'VALIDATION',
        `Version ${live ?? '(none)'} is live now, not version ${input.expectedActiveVersion}: compare your document with it before publishing.`,
        { field: 'baseVersion', activeVersion: live },
      );
    }
    const top = await tx.get<{ v: number | null }>(`SELECT MAX(version) AS v FROM rule_versions`);
    const version = Number(top?.v ?? 0) + 1;
    const doc = JSON.stringify(input.document);
    await tx.run(
      `INSERT INTO rule_versions (version, document, created_at, created_by, reason, rolled_back_from)
       VALUES (?, ?, ?, ?, ?, ?)`,
      [version, doc, input.now, input.createdBy, input.reason, input.rolledBackFrom ?? null],
    );
    await tx.run(
      `INSERT INTO rule_state (id, active_version) VALUES (1, ?)
       ON CONFLICT (id) DO UPDATE SET active_version = excluded.active_version`,
      [version],
    );
    if (input.audit) {
      await writeAudit(
        tx,
        {
          ...input.audit,
          target: `rules:${version}`,
          after: input.audit.after ?? { version, rolledBackFrom: input.rolledBackFrom ?? null },
        },
        input.now,
      );
    }
    return {
      version,
      document: JSON.parse(doc),
      createdAt: input.now,
      createdBy: input.createdBy,
      reason: input.reason,
      rolledBackFrom: input.rolledBackFrom ?? null,
    };
  });
}

export async function ruleDraft(
  read: Executor,
): Promise<{ document: unknown; updatedAt: number; updatedBy: string } | null> {
  const row = await read.get<{
    draft: string | null;
    updatedAt: number;
    updatedBy: string;
  }>(
    `SELECT draft, draft_updated_at AS "updatedAt", draft_updated_by AS "updatedBy" FROM rule_state WHERE id = 1`,
  );
  if (!row || row.draft === null) return null;
  return {
    document: JSON.parse(row.draft),
    updatedAt: Number(row.updatedAt),
    updatedBy: row.updatedBy,
  };
}

export function saveRuleDraft(
  driver: Driver,
  input: { document: unknown; updatedBy: string; now: number },
): Promise<void> {
  return driver.write(async (tx) => {
    const r = await tx.run(
      `UPDATE rule_state SET draft = ?, draft_updated_at = ?, draft_updated_by = ? WHERE id = 1`,
      [JSON.stringify(input.document), input.now, input.updatedBy],
    );
    if (r.changes !== 1)
      throw new Error('no rule state: publish a first version before saving drafts');
  });
}
