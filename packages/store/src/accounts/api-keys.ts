import { writeAudit } from '../audit-log.js';
import { AccountPart } from './part.js';
import type { ApiKeyRecord, ApiKeySpend, AuditInput } from '../account-types.js';

/** A key's last use is written at most this often (a busy key is not a write per request). */
const KEY_TOUCH_MS = 60_000;
const KEY_COLUMNS = `id, prefix, kind, workspace_id AS "workspaceId", scopes, name, created_by AS "createdBy",
  created_at AS "createdAt", revoked_at AS "revokedAt", last_used_at AS "lastUsedAt"`;
type KeyRow = Omit<ApiKeyRecord, 'scopes'> & { scopes: string };
function toKey(r: KeyRow): ApiKeyRecord {
  return {
    ...r,
    scopes: JSON.parse(r.scopes) as string[],
    createdAt: Number(r.createdAt),
    revokedAt: r.revokedAt === null ? null : Number(r.revokedAt),
    lastUsedAt: r.lastUsedAt === null ? null : Number(r.lastUsedAt),
  };
}

/** API keys (stored hashed): create, look up, list, last use, revoke; what each key spent. */
export class ApiKeyStore extends AccountPart {
  createApiKey(
    input: Omit<ApiKeyRecord, 'revokedAt' | 'createdAt' | 'lastUsedAt'> & {
      keyHash: string;
      now: number;
      audit: AuditInput;
    },
  ): Promise<ApiKeyRecord> {
    return this.driver.write(async (tx) => {
      await tx.run(
        `INSERT INTO api_keys (id, key_hash, prefix, kind, workspace_id, scopes, name, created_by, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          input.id,
          input.keyHash,
          input.prefix,
          input.kind,
          input.workspaceId,
          JSON.stringify(input.scopes),
          input.name,
          input.createdBy,
          input.now,
        ],
      );
      const record: ApiKeyRecord = {
        id: input.id,
        prefix: input.prefix,
        kind: input.kind,
        workspaceId: input.workspaceId,
        scopes: input.scopes,
        name: input.name,
        createdBy: input.createdBy,
        createdAt: input.now,
        revokedAt: null,
        lastUsedAt: null,
      };
      await writeAudit(
        tx,
        {
          ...input.audit,
          target: `api_key:${input.id}`,
          workspaceId: input.workspaceId,
          after: record,
        },
        input.now,
      );
      return record;
    });
  }

  /** A live key by its hash. */
  async apiKeyByHash(keyHash: string): Promise<ApiKeyRecord | null> {
    const row = await this.driver.read.get<KeyRow>(
      `SELECT ${KEY_COLUMNS} FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL`,
      [keyHash],
    );
    return row ? toKey(row) : null;
  }

  async apiKeys(input: { workspaceId: string } | { kind: 'service' }): Promise<ApiKeyRecord[]> {
    const rows =
      'workspaceId' in input
        ? await this.driver.read.all<KeyRow>(
            `SELECT ${KEY_COLUMNS} FROM api_keys WHERE workspace_id = ? ORDER BY created_at DESC, id`,
            [input.workspaceId],
          )
        : await this.driver.read.all<KeyRow>(
            `SELECT ${KEY_COLUMNS} FROM api_keys WHERE kind = 'service' ORDER BY created_at DESC, id`,
          );
    return rows.map(toKey);
  }

  /** Note that a live key was used at `now`; written at most once a minute per key. */
  async touchApiKey(input: { id: string; now: number }): Promise<void> {
    await this.driver.write(async (tx) => {
      await tx.run(
        `UPDATE api_keys SET last_used_at = ?
          WHERE id = ? AND revoked_at IS NULL AND (last_used_at IS NULL OR last_used_at < ?)`,
        [input.now, input.id, input.now - KEY_TOUCH_MS],
      );
    });
  }

  /** What each of this workspace's keys has spent (captured or charged jobs), per wallet. */
  async apiKeySpend(input: { workspaceId: string }): Promise<ApiKeySpend[]> {
    const rows = await this.driver.read.all<{ actor: string; wallet: string; spent: number }>(
      `SELECT actor, wallet, SUM(COALESCE(captured, 0)) AS spent FROM jobs
        WHERE workspace_id = ? AND status = 'completed' AND actor LIKE 'key:%'
        GROUP BY actor, wallet ORDER BY actor, wallet`,
      [input.workspaceId],
    );
    return rows.map((r) => ({
      keyId: r.actor.slice('key:'.length),
      wallet: r.wallet,
      spent: Number(r.spent),
    }));
  }
  /** Revoke a key; with `workspaceId`, only a key of that workspace. */
  revokeApiKey(input: {
    id: string;
    workspaceId: string | null;
    now: number;
    audit: AuditInput;
  }): Promise<boolean> {
    return this.driver.write(async (tx) => {
      const r =
        input.workspaceId === null
          ? await tx.run(
              `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND kind = 'service' AND revoked_at IS NULL`,
              [input.now, input.id],
            )
          : await tx.run(
              `UPDATE api_keys SET revoked_at = ? WHERE id = ? AND workspace_id = ? AND revoked_at IS NULL`,
              [input.now, input.id, input.workspaceId],
            );
      if (r.changes === 1) {
        await writeAudit(
          tx,
          {
            ...input.audit,
            target: `api_key:${input.id}`,
            workspaceId: input.workspaceId,
            after: { revokedAt: input.now },
          },
          input.now,
        );
      }
      return r.changes === 1;
    });
  }
}
