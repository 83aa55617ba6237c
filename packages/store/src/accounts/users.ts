import { randomUUID } from 'node:crypto';
import { CreditsError } from '@credits/domain';
import type { Executor } from '../executor.js';
import { writeAudit } from '../audit-log.js';
import { AccountPart } from './part.js';
import type { AuditInput, Role, User, UserWithSecret, Workspace } from '../account-types.js';

export const USER_COLUMNS = `id, email, name, is_admin AS "isAdmin", created_at AS "createdAt"`;
export type UserRow = Omit<User, 'isAdmin'> & { isAdmin: number | boolean };
export function toUser(r: UserRow): User {
  return { ...r, isAdmin: Boolean(r.isAdmin), createdAt: Number(r.createdAt) };
}

/**
 * Users (sign-up creates a user, a workspace and an owner membership at once), memberships,
 * and the admins' workspace search.
 */
export class UserStore extends AccountPart {
  /** A user, their workspace with its wallets, and their owner membership: one transaction. */
  createAccount(input: {
    email: string;
    name: string;
    passwordHash: string;
    workspace: { name: string; plan: string; features: string[]; billingAnchorDay: number };
    wallets: readonly string[];
    now: number;
  }): Promise<{ user: User; workspace: Workspace }> {
    return this.driver.write(async (tx) => {
      const user = await this.insertUser(tx, { ...input, isAdmin: false });
      const workspace: Workspace = {
        id: `ws_${randomUUID().replaceAll('-', '')}`,
        name: input.workspace.name,
        plan: input.workspace.plan,
        features: input.workspace.features,
        billingAnchorDay: input.workspace.billingAnchorDay,
        createdAt: input.now,
      };
      await tx.run(
        `INSERT INTO workspaces (id, name, plan, features, billing_anchor_day, created_at) VALUES (?, ?, ?, ?, ?, ?)`,
        [
          workspace.id,
          workspace.name,
          workspace.plan,
          JSON.stringify(workspace.features),
          workspace.billingAnchorDay,
          input.now,
        ],
      );
      for (const kind of input.wallets) {
        await tx.run(
          `INSERT INTO wallets (workspace_id, kind, available, held) VALUES (?, ?, 0, 0)`,
          [workspace.id, kind],
        );
      }
      await tx.run(
        `INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, 'owner', ?)`,
        [workspace.id, user.id, input.now],
      );
      return { user, workspace };
    });
  }

  createUser(input: {
    email: string;
    name: string;
    passwordHash: string;
    isAdmin: boolean;
    now: number;
    audit?: AuditInput;
  }): Promise<User> {
    return this.driver.write(async (tx) => {
      const user = await this.insertUser(tx, input);
      if (input.audit)
        await writeAudit(
          tx,
          {
            ...input.audit,
            target: `user:${user.id}`,
            after: { email: user.email, isAdmin: user.isAdmin },
          },
          input.now,
        );
      return user;
    });
  }

  private async insertUser(
    tx: Executor,
    input: { email: string; name: string; passwordHash: string; isAdmin: boolean; now: number },
  ): Promise<User> {
    const user: User = {
      id: `usr_${randomUUID().replaceAll('-', '')}`,
      email: input.email.toLowerCase(),
      name: input.name,
      isAdmin: input.isAdmin,
      createdAt: input.now,
    };
    const made = await tx.run(
      `INSERT INTO users (id, email, name, password_hash, is_admin, created_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT DO NOTHING`,
      [user.id, user.email, user.name, input.passwordHash, user.isAdmin ? 1 : 0, input.now],
    );
    if (made.changes !== 1)
      throw new CreditsError('EMAIL_TAKEN', 'An account with this email exists.', {});
    return user;
  }

  async userByEmail(email: string): Promise<UserWithSecret | null> {
    const row = await this.driver.read.get<UserRow & { passwordHash: string }>(
      `SELECT ${USER_COLUMNS}, password_hash AS "passwordHash" FROM users WHERE email = ?`,
      [email.toLowerCase()],
    );
    return row ? { ...toUser(row), passwordHash: row.passwordHash } : null;
  }

  async user(id: string): Promise<User | null> {
    const row = await this.driver.read.get<UserRow>(
      `SELECT ${USER_COLUMNS} FROM users WHERE id = ?`,
      [id],
    );
    return row ? toUser(row) : null;
  }

  async memberships(
    userId: string,
  ): Promise<{ workspaceId: string; name: string; plan: string; role: Role }[]> {
    return this.driver.read.all(
      `SELECT m.workspace_id AS "workspaceId", w.name, w.plan, m.role FROM memberships m
       JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = ? ORDER BY w.created_at, w.id`,
      [userId],
    );
  }

  async role(input: { workspaceId: string; userId: string }): Promise<Role | null> {
    const row = await this.driver.read.get<{ role: Role }>(
      `SELECT role FROM memberships WHERE workspace_id = ? AND user_id = ?`,
      [input.workspaceId, input.userId],
    );
    return row?.role ?? null;
  }

  async members(
    workspaceId: string,
  ): Promise<{ userId: string; email: string; name: string; role: Role }[]> {
    return this.driver.read.all(
      `SELECT u.id AS "userId", u.email, u.name, m.role FROM memberships m JOIN users u ON u.id = m.user_id
       WHERE m.workspace_id = ? ORDER BY m.created_at, u.id`,
      [workspaceId],
    );
  }

  addMember(input: {
    workspaceId: string;
    userId: string;
    role: Role;
    now: number;
    audit: AuditInput;
  }): Promise<void> {
    return this.driver.write(async (tx) => {
      if (input.role !== 'owner') {
        // Demoting the last owner would leave a workspace nobody can manage.
        const current = await tx.get<{ role: Role }>(
          `SELECT role FROM memberships WHERE workspace_id = ? AND user_id = ?`,
          [input.workspaceId, input.userId],
        );
        const others = await tx.get<{ n: number }>(
          `SELECT COUNT(*) AS n FROM memberships WHERE workspace_id = ? AND role = 'owner' AND user_id <> ?`,
          [input.workspaceId, input.userId],
        );
        if (current?.role === 'owner' && Number(others?.n ?? 0) === 0) {
          throw new CreditsError('FORBIDDEN', 'A workspace keeps at least one owner.', {});
        }
      }
      const r = await tx.run(
        `INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role`,
        [input.workspaceId, input.userId, input.role, input.now],
      );
      if (r.changes !== 1) throw new Error('membership upsert changed nothing');
      await writeAudit(
        tx,
        { ...input.audit, after: { userId: input.userId, role: input.role } },
        input.now,
      );
    });
  }

  removeMember(input: {
    workspaceId: string;
    userId: string;
    now: number;
    audit: AuditInput;
  }): Promise<boolean> {
    return this.driver.write(async (tx) => {
      const owners = await tx.get<{ n: number }>(
        `SELECT COUNT(*) AS n FROM memberships WHERE workspace_id = ? AND role = 'owner' AND user_id <> ?`,
        [input.workspaceId, input.userId],
      );
      const target = await tx.get<{ role: Role }>(
        `SELECT role FROM memberships WHERE workspace_id = ? AND user_id = ?`,
        [input.workspaceId, input.userId],
      );
      if (!target) return false;
      if (target.role === 'owner' && Number(owners?.n ?? 0) === 0) {
        throw new CreditsError('FORBIDDEN', 'A workspace keeps at least one owner.', {});
      }
      await tx.run(`DELETE FROM memberships WHERE workspace_id = ? AND user_id = ?`, [
        input.workspaceId,
        input.userId,
      ]);
      await writeAudit(
        tx,
        { ...input.audit, before: { userId: input.userId, role: target.role } },
        input.now,
      );
      return true;
    });
  }

  /** Workspaces whose id or name contains `query`, or with a member whose email does. */
  async searchWorkspaces(input: {
    query: string;
    limit: number;
  }): Promise<{ id: string; name: string; plan: string; createdAt: number }[]> {
    const like = `%${input.query.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const rows = await this.driver.read.all<{
      id: string;
      name: string;
      plan: string;
      createdAt: number;
    }>(
      `SELECT DISTINCT w.id, w.name, w.plan, w.created_at AS "createdAt" FROM workspaces w
       LEFT JOIN memberships m ON m.workspace_id = w.id LEFT JOIN users u ON u.id = m.user_id
       WHERE LOWER(w.id) LIKE ? ESCAPE '\\' OR LOWER(w.name) LIKE ? ESCAPE '\\' OR u.email LIKE ? ESCAPE '\\'
       ORDER BY w.created_at DESC LIMIT ?`,
      [like, like, like, input.limit],
    );
    return rows.map((r) => ({ ...r, createdAt: Number(r.createdAt) }));
  }
}
