import { CreditsError } from '@credits/domain';
import { writeAudit, AUDIT_COLUMNS, toAuditEntry, type AuditRow } from '../audit-log.js';
import { AccountPart } from './part.js';
import type { AuditEntry, AuditInput, SessionRecord, User } from '../account-types.js';
import { USER_COLUMNS, toUser, type UserRow } from './users.js';

/**
 * Sessions, passwords and password resets, the security events a user sees, and the rate
 * limits sign-in shares across processes.
 */
export class SessionStore extends AccountPart {
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
      tx.write(`DELETE FROM rate_limits WHERE expires_at <= ?`, [input.now]);
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
}
