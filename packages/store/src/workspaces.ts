import { CreditsError } from '@credits/domain';
import type { Driver } from './executor.js';
import { idempotent } from './idempotency.js';
import { newId } from './ids.js';
import type { CreateWorkspaceInput, Workspace } from './types.js';

/** Scope of idempotency keys for writes that belong to no workspace yet. */
const ADMIN_SCOPE = '_admin';

/** Workspaces: created once (idempotent, with their wallets at zero), read by id. */

export function createWorkspace(driver: Driver, input: CreateWorkspaceInput): Promise<Workspace> {
  return idempotent(
    driver,
    {
      scope: ADMIN_SCOPE,
      key: input.idempotencyKey,
      operation: 'createWorkspace',
      requestHash: input.requestHash,
      now: input.now,
    },
    async (tx) => {
      const ws: Workspace = {
        id: input.id ?? newId('ws'),
        name: input.name,
        plan: input.plan,
        features: input.features ?? [],
        billingAnchorDay: input.billingAnchorDay,
        createdAt: input.now,
      };
      const made = await tx.run(
        `INSERT INTO workspaces (id, name, plan, features, billing_anchor_day, created_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        [ws.id, ws.name, ws.plan, JSON.stringify(ws.features), ws.billingAnchorDay, ws.createdAt],
      );
      if (made.changes !== 1) {
        throw new CreditsError('WORKSPACE_EXISTS', 'A workspace with this id exists.', {
          id: ws.id,
        });
      }
      for (const kind of input.wallets) {
        await tx.run(
          `INSERT INTO wallets (workspace_id, kind, available, held) VALUES (?, ?, 0, 0)`,
          [ws.id, kind],
        );
      }
      return ws;
    },
  );
}

export async function getWorkspace(driver: Driver, id: string): Promise<Workspace | null> {
  const row = await driver.read.get<Omit<Workspace, 'features'> & { features: string }>(
    `SELECT id, name, plan, features, billing_anchor_day AS "billingAnchorDay", created_at AS "createdAt"
     FROM workspaces WHERE id = ?`,
    [id],
  );
  if (!row) return null;
  return {
    ...row,
    features: JSON.parse(row.features) as string[],
    billingAnchorDay: Number(row.billingAnchorDay),
    createdAt: Number(row.createdAt),
  };
}

export async function listWorkspaceIds(driver: Driver): Promise<string[]> {
  const rows = await driver.read.all<{ id: string }>(`SELECT id FROM workspaces ORDER BY id`);
  return rows.map((r) => r.id);
}
