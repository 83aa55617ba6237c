import { randomUUID } from 'node:crypto';
import { CreditsError } from '@credits/domain';
import type { Driver, Executor, TxExecutor } from './executor.js';
import type {
  AccountStore,
  ApiKeyRecord,
  ApiKeySpend,
  AuditEntry,
  InvitationRecord,
  AuditInput,
  Role,
  SessionRecord,
  User,
  UserWithSecret,
  Workspace,
} from './account-types.js';

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

/** A key's last use is written at most this often (a busy key is not a write per request). */
const KEY_TOUCH_MS = 60_000;

const invitationColumns = (t = '') =>
  `${t}id, ${t}workspace_id AS "workspaceId", ${t}email, ${t}role, ${t}created_by AS "createdBy",
  ${t}created_at AS "createdAt", ${t}expires_at AS "expiresAt", ${t}sent_count AS "sentCount",
  ${t}accepted_at AS "acceptedAt", ${t}accepted_by AS "acceptedBy", ${t}revoked_at AS "revokedAt"`;
const INVITATION_COLUMNS = invitationColumns();
function toInvitation(r: InvitationRecord): InvitationRecord {
  const n = (v: number | null) => (v === null ? null : Number(v));
  return {
    id: r.id,
    workspaceId: r.workspaceId,
    email: r.email,
    role: r.role,
    createdBy: r.createdBy,
    createdAt: Number(r.createdAt),
    expiresAt: Number(r.expiresAt),
    sentCount: Number(r.sentCount),
    acceptedAt: n(r.acceptedAt),
    acceptedBy: r.acceptedBy,
    revokedAt: n(r.revokedAt),
  };
}

const USER_COLUMNS = `id, email, name, is_admin AS "isAdmin", created_at AS "createdAt"`;
const KEY_COLUMNS = `id, prefix, kind, workspace_id AS "workspaceId", scopes, name, created_by AS "createdBy",
  created_at AS "createdAt", revoked_at AS "revokedAt", last_used_at AS "lastUsedAt"`;

const AUDIT_COLUMNS = `id, actor, action, target, workspace_id AS "workspaceId", before_state AS "before",
  after_state AS "after", reason, created_at AS "createdAt"`;
type AuditRow = Omit<AuditEntry, 'before' | 'after'> & {
  before: string | null;
  after: string | null;
};
function toAuditEntry(r: AuditRow): AuditEntry {
  return {
    ...r,
    id: Number(r.id),
    createdAt: Number(r.createdAt),
    before: r.before === null ? null : (JSON.parse(r.before) as unknown),
    after: r.after === null ? null : (JSON.parse(r.after) as unknown),
  };
}

type UserRow = Omit<User, 'isAdmin'> & { isAdmin: number | boolean };
function toUser(r: UserRow): User {
  return { ...r, isAdmin: Boolean(r.isAdmin), createdAt: Number(r.createdAt) };
}
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

/** Users, memberships, sessions, API keys and the audit log. Secrets arrive hashed. */
export class SqlAccountStore implements AccountStore {
  constructor(private readonly driver: Driver) {}

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

  // ---------------------------------------------------------------- sessions

  createSession(input: {
    tokenHash: string;
    userId: string;
    now: number;
    expiresAt: number;
    userAgent?: string | null;
  }): Promise<void> {
    return this.driver.write(async (tx) => {
      await tx.run(
        `INSERT INTO sessions (token_hash, user_id, created_at, expires_at, user_agent) VALUES (?, ?, ?, ?, ?)`,
        [
          input.tokenHash,
          input.userId,
          input.now,
          input.expiresAt,
          input.userAgent ? input.userAgent.slice(0, 200) : null,
        ],
      );
    });
  }

  async userSessions(input: { userId: string; now: number }): Promise<SessionRecord[]> {
    const rows = await this.driver.read.all<SessionRecord>(
      `SELECT token_hash AS "tokenHash", created_at AS "createdAt", expires_at AS "expiresAt", user_agent AS "userAgent"
       FROM sessions WHERE user_id = ? AND revoked_at IS NULL AND expires_at > ?
       ORDER BY created_at DESC, token_hash`,
      [input.userId, input.now],
    );
    return rows.map((r) => ({
      ...r,
      createdAt: Number(r.createdAt),
      expiresAt: Number(r.expiresAt),
    }));
  }

  revokeUserSessions(input: {
    userId: string;
    now: number;
    except?: string | null;
    only?: string;
  }): Promise<number> {
    return this.driver.write(async (tx) => {
      const r =
        input.only !== undefined
          ? await tx.run(
              `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND token_hash = ? AND revoked_at IS NULL`,
              [input.now, input.userId, input.only],
            )
          : await tx.run(
              `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND token_hash <> ?`,
              [input.now, input.userId, input.except ?? ''],
            );
      return r.changes;
    });
  }

  setPassword(input: {
    userId: string;
    passwordHash: string;
    keepSession: string | null;
    now: number;
    audit: AuditInput;
  }): Promise<void> {
    return this.driver.write(async (tx) => {
      const r = await tx.run(`UPDATE users SET password_hash = ? WHERE id = ?`, [
        input.passwordHash,
        input.userId,
      ]);
      if (r.changes !== 1) throw new CreditsError('NOT_FOUND', 'No such account.', {});
      const revoked = await tx.run(
        `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND token_hash <> ?`,
        [input.now, input.userId, input.keepSession ?? ''],
      );
      await writeAudit(
        tx,
        {
          ...input.audit,
          target: `user:${input.userId}`,
          after: { otherSessionsRevoked: revoked.changes },
        },
        input.now,
      );
    });
  }

  createPasswordReset(input: {
    tokenHash: string;
    userId: string;
    now: number;
    expiresAt: number;
  }): Promise<void> {
    return this.driver.write(async (tx) => {
      await tx.run(`UPDATE password_resets SET used_at = ? WHERE user_id = ? AND used_at IS NULL`, [
        input.now,
        input.userId,
      ]);
      await tx.run(
        `INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
        [input.tokenHash, input.userId, input.now, input.expiresAt],
      );
      await writeAudit(
        tx,
        {
          actor: 'system',
          action: 'auth.password_reset_issued',
          target: `user:${input.userId}`,
          after: { expiresAt: input.expiresAt },
        },
        input.now,
      );
    });
  }

  redeemPasswordReset(input: {
    tokenHash: string;
    passwordHash: string;
    now: number;
  }): Promise<User | null> {
    return this.driver.write(async (tx) => {
      const row = await tx.get<{ userId: string }>(
        `UPDATE password_resets SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
         RETURNING user_id AS "userId"`,
        [input.now, input.tokenHash, input.now],
      );
      if (!row) return null;
      await tx.run(`UPDATE users SET password_hash = ? WHERE id = ?`, [
        input.passwordHash,
        row.userId,
      ]);
      const revoked = await tx.run(
        `UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL`,
        [input.now, row.userId],
      );
      await writeAudit(
        tx,
        {
          actor: `user:${row.userId}`,
          action: 'auth.password_reset',
          target: `user:${row.userId}`,
          after: { sessionsRevoked: revoked.changes },
        },
        input.now,
      );
      const user = await tx.get<UserRow>(`SELECT ${USER_COLUMNS} FROM users WHERE id = ?`, [
        row.userId,
      ]);
      return user ? toUser(user) : null;
    });
  }

  async securityEvents(input: { userId: string; limit: number }): Promise<AuditEntry[]> {
    const rows = await this.driver.read.all<AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE target = ? AND action LIKE 'auth.%' ORDER BY id DESC LIMIT ?`,
      [`user:${input.userId}`, input.limit],
    );
    return rows.map(toAuditEntry);
  }

  /** The user of a live session: not revoked, not expired. */
  async sessionUser(input: { tokenHash: string; now: number }): Promise<User | null> {
    const row = await this.driver.read.get<UserRow>(
      `SELECT u.id, u.email, u.name, u.is_admin AS "isAdmin", u.created_at AS "createdAt"
       FROM sessions s JOIN users u ON u.id = s.user_id
       WHERE s.token_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ?`,
      [input.tokenHash, input.now],
    );
    return row ? toUser(row) : null;
  }

  revokeSession(input: { tokenHash: string; now: number }): Promise<boolean> {
    return this.driver.write(async (tx) => {
      const r = await tx.run(
        `UPDATE sessions SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL`,
        [input.now, input.tokenHash],
      );
      return r.changes === 1;
    });
  }

  // ---------------------------------------------------------------- rate limits

  /**
   * Count one event under `key` in the fixed window of `windowMs` that holds `now`, shared by
   * every process on this database: one atomic upsert-increment (`ON CONFLICT DO UPDATE …
   * RETURNING`), so concurrent hits never lose a count. A new window starts the count again.
   * Returns the count including this hit and when the window ends. Rows of ended windows are
   * removed on the way (indexed by expiry).
   */
  hitRateLimit(input: {
    key: string;
    windowMs: number;
    now: number;
  }): Promise<{ count: number; resetAt: number }> {
    const windowStart = Math.floor(input.now / input.windowMs) * input.windowMs;
    const resetAt = windowStart + input.windowMs;
    return this.driver.write(async (tx) => {
      tx.deferRun(`DELETE FROM rate_limits WHERE expires_at <= ?`, [input.now]);
      const row = await tx.get<{ hits: number }>(
        `INSERT INTO rate_limits (key, window_start, hits, last_at, expires_at) VALUES (?, ?, 1, ?, ?)
         ON CONFLICT (key) DO UPDATE SET
           hits = CASE WHEN rate_limits.window_start = excluded.window_start THEN rate_limits.hits + 1 ELSE 1 END,
           window_start = excluded.window_start,
           last_at = excluded.last_at,
           expires_at = excluded.expires_at
         RETURNING hits`,
        [input.key, windowStart, input.now, resetAt],
      );
      if (!row) throw new Error('rate limit upsert returned no row');
      return { count: Number(row.hits), resetAt };
    });
  }

  /** The count under `key` in its current window (0 when none), and the last hit's time. */
  async rateLimitCount(input: {
    key: string;
    now: number;
  }): Promise<{ count: number; lastAt: number | null; resetAt: number | null }> {
    const row = await this.driver.read.get<{ hits: number; lastAt: number; expiresAt: number }>(
      `SELECT hits, last_at AS "lastAt", expires_at AS "expiresAt" FROM rate_limits WHERE key = ? AND expires_at > ?`,
      [input.key, input.now],
    );
    return row
      ? { count: Number(row.hits), lastAt: Number(row.lastAt), resetAt: Number(row.expiresAt) }
      : { count: 0, lastAt: null, resetAt: null };
  }

  /** Forget `key`'s count (a successful sign-in clears its failures). */
  clearRateLimit(key: string): Promise<void> {
    return this.driver.write(async (tx) => {
      await tx.run(`DELETE FROM rate_limits WHERE key = ?`, [key]);
    });
  }

  // ---------------------------------------------------------------- API keys

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

  // ---------------------------------------------------------------- invitations

  createInvitation(
    input: Omit<InvitationRecord, 'acceptedAt' | 'acceptedBy' | 'revokedAt' | 'sentCount'> & {
      tokenHash: string;
      now: number;
      audit: AuditInput;
    },
  ): Promise<InvitationRecord> {
    return this.driver.write(async (tx) => {
      await tx.run(
        `UPDATE invitations SET revoked_at = ?
          WHERE workspace_id = ? AND email = ? AND accepted_at IS NULL AND revoked_at IS NULL`,
        [input.now, input.workspaceId, input.email],
      );
      await tx.run(
        `INSERT INTO invitations (id, workspace_id, email, role, token_hash, created_by, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          input.id,
          input.workspaceId,
          input.email,
          input.role,
          input.tokenHash,
          input.createdBy,
          input.createdAt,
          input.expiresAt,
        ],
      );
      const record: InvitationRecord = {
        id: input.id,
        workspaceId: input.workspaceId,
        email: input.email,
        role: input.role,
        createdBy: input.createdBy,
        createdAt: input.createdAt,
        expiresAt: input.expiresAt,
        sentCount: 1,
        acceptedAt: null,
        acceptedBy: null,
        revokedAt: null,
      };
      await writeAudit(
        tx,
        {
          ...input.audit,
          target: `invitation:${input.id}`,
          workspaceId: input.workspaceId,
          after: { email: input.email, role: input.role, expiresAt: input.expiresAt },
        },
        input.now,
      );
      return record;
    });
  }

  async invitations(workspaceId: string): Promise<InvitationRecord[]> {
    const rows = await this.driver.read.all<InvitationRecord>(
      `SELECT ${INVITATION_COLUMNS} FROM invitations WHERE workspace_id = ?
        ORDER BY created_at DESC, id LIMIT 100`,
      [workspaceId],
    );
    return rows.map(toInvitation);
  }

  async invitationByToken(
    tokenHash: string,
  ): Promise<(InvitationRecord & { workspaceName: string; invitedBy: string | null }) | null> {
    const row = await this.driver.read.get<
      InvitationRecord & { workspaceName: string; invitedBy: string | null }
    >(
      `SELECT ${invitationColumns('i.')},
              w.name AS "workspaceName", u.name AS "invitedBy"
         FROM invitations i JOIN workspaces w ON w.id = i.workspace_id
         LEFT JOIN users u ON 'user:' || u.id = i.created_by
        WHERE i.token_hash = ?`,
      [tokenHash],
    );
    return row
      ? { ...toInvitation(row), workspaceName: row.workspaceName, invitedBy: row.invitedBy }
      : null;
  }

  reissueInvitation(input: {
    id: string;
    workspaceId: string;
    tokenHash: string;
    expiresAt: number;
    now: number;
    audit: AuditInput;
  }): Promise<InvitationRecord | null> {
    return this.driver.write(async (tx) => {
      const r = await tx.run(
        `UPDATE invitations SET token_hash = ?, expires_at = ?, sent_count = sent_count + 1
          WHERE id = ? AND workspace_id = ? AND accepted_at IS NULL AND revoked_at IS NULL`,
        [input.tokenHash, input.expiresAt, input.id, input.workspaceId],
      );
      if (r.changes !== 1) return null;
      const row = await tx.get<InvitationRecord>(
        `SELECT ${INVITATION_COLUMNS} FROM invitations WHERE id = ?`,
        [input.id],
      );
      await writeAudit(
        tx,
        {
          ...input.audit,
          target: `invitation:${input.id}`,
          workspaceId: input.workspaceId,
          after: { expiresAt: input.expiresAt },
        },
        input.now,
      );
      return row ? toInvitation(row) : null;
    });
  }

  revokeInvitation(input: {
    id: string;
    workspaceId: string;
    now: number;
    audit: AuditInput;
  }): Promise<boolean> {
    return this.driver.write(async (tx) => {
      const r = await tx.run(
        `UPDATE invitations SET revoked_at = ?
          WHERE id = ? AND workspace_id = ? AND accepted_at IS NULL AND revoked_at IS NULL`,
        [input.now, input.id, input.workspaceId],
      );
      if (r.changes === 1)
        await writeAudit(
          tx,
          {
            ...input.audit,
            target: `invitation:${input.id}`,
            workspaceId: input.workspaceId,
            after: { revokedAt: input.now },
          },
          input.now,
        );
      return r.changes === 1;
    });
  }

  acceptInvitation(input: {
    tokenHash: string;
    userId: string;
    email: string;
    now: number;
  }): Promise<{ workspaceId: string; role: Role } | null> {
    return this.driver.write(async (tx) => {
      const claimed = await tx.get<{ id: string; workspaceId: string; role: Role }>(
        `UPDATE invitations SET accepted_at = ?, accepted_by = ?
          WHERE token_hash = ? AND email = ? AND accepted_at IS NULL AND revoked_at IS NULL
            AND expires_at > ?
          RETURNING id, workspace_id AS "workspaceId", role`,
        [input.now, `user:${input.userId}`, input.tokenHash, input.email, input.now],
      );
      if (!claimed) return null;
      await tx.run(
        `INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (workspace_id, user_id) DO UPDATE SET role =
           CASE WHEN excluded.role = 'owner' THEN 'owner' ELSE memberships.role END`,
        [claimed.workspaceId, input.userId, claimed.role, input.now],
      );
      const member = await tx.get<{ role: Role }>(
        `SELECT role FROM memberships WHERE workspace_id = ? AND user_id = ?`,
        [claimed.workspaceId, input.userId],
      );
      await writeAudit(
        tx,
        {
          actor: `user:${input.userId}`,
          action: 'workspace.invitation.accept',
          target: `invitation:${claimed.id}`,
          workspaceId: claimed.workspaceId,
          after: { userId: input.userId, role: member?.role ?? claimed.role },
        },
        input.now,
      );
      return { workspaceId: claimed.workspaceId, role: member?.role ?? claimed.role };
    });
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

  // ---------------------------------------------------------------- audit

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
