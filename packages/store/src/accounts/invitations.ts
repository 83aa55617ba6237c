import { writeAudit } from '../audit-log.js';
import { AccountPart } from './part.js';
import type { InvitationRecord, AuditInput, Role } from '../account-types.js';

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

/** Invitations to a workspace: a hashed single-use token; reissued, revoked, accepted once. */
export class InvitationStore extends AccountPart {
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
}
