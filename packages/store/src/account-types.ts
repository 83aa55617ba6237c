/**
 * Accounts as the rest of the product sees them: workspaces, users, memberships, sessions,
 * API keys and the audit log (records and the {@link AccountStore} interface; no class).
 */

/** A workspace: the unit that owns wallets, members and keys. */
export interface Workspace {
  id: string;
  name: string;
  plan: string;
  features: string[];
  billingAnchorDay: number;
  createdAt: number;
}

export type Role = 'owner' | 'member';

export interface User {
  id: string;
  email: string;
  name: string;
  isAdmin: boolean;
  createdAt: number;
}
export interface UserWithSecret extends User {
  passwordHash: string;
}

export interface ApiKeyRecord {
  id: string;
  prefix: string;
  kind: 'workspace' | 'service';
  workspaceId: string | null;
  scopes: string[];
  name: string;
  createdBy: string;
  createdAt: number;
  revokedAt: number | null;
  /** When the key last authenticated a request (kept to the minute), or null if never. */
  lastUsedAt: number | null;
}

/** An invitation to join a workspace (its link's token is kept only as a hash). */
export interface InvitationRecord {
  id: string;
  workspaceId: string;
  email: string;
  role: Role;
  createdBy: string;
  createdAt: number;
  expiresAt: number;
  /** How many links were issued for it (1, then +1 per resend; each resend voids the last). */
  sentCount: number;
  acceptedAt: number | null;
  acceptedBy: string | null;
  revokedAt: number | null;
}

/** Credits spent by one key's finished jobs, per wallet. */
export interface ApiKeySpend {
  keyId: string;
  wallet: string;
  spent: number;
}

export interface AuditInput {
  actor: string;
  action: string;
  target: string;
  workspaceId?: string | null;
  before?: unknown;
  after?: unknown;
  reason?: string | null;
}
export interface AuditEntry extends Required<Omit<AuditInput, 'before' | 'after'>> {
  id: number;
  before: unknown;
  after: unknown;
  createdAt: number;
}

/** Users, memberships, sessions, API keys and the audit log. Secrets arrive hashed. */
export interface AccountStore {
  /** A user, their workspace with its wallets, and their owner membership: one transaction. */
  createAccount(input: {
    email: string;
    name: string;
    passwordHash: string;
    workspace: {
      name: string;
      plan: string;
      features: string[];
      billingAnchorDay: number;
    };
    wallets: readonly string[];
    now: number;
  }): Promise<{
    user: User;
    workspace: Workspace;
  }>;
  createUser(input: {
    email: string;
    name: string;
    passwordHash: string;
    isAdmin: boolean;
    now: number;
    audit?: AuditInput;
  }): Promise<User>;
  userByEmail(email: string): Promise<UserWithSecret | null>;
  user(id: string): Promise<User | null>;
  memberships(userId: string): Promise<
    {
      workspaceId: string;
      name: string;
      plan: string;
      role: Role;
    }[]
  >;
  role(input: { workspaceId: string; userId: string }): Promise<Role | null>;
  members(workspaceId: string): Promise<
    {
      userId: string;
      email: string;
      name: string;
      role: Role;
    }[]
  >;
  addMember(input: {
    workspaceId: string;
    userId: string;
    role: Role;
    now: number;
    audit: AuditInput;
  }): Promise<void>;
  removeMember(input: {
    workspaceId: string;
    userId: string;
    now: number;
    audit: AuditInput;
  }): Promise<boolean>;
  /** Workspaces whose id or name contains `query`, or with a member whose email does. */
  searchWorkspaces(input: { query: string; limit: number }): Promise<
    {
      id: string;
      name: string;
      plan: string;
      createdAt: number;
    }[]
  >;
  createSession(input: {
    tokenHash: string;
    userId: string;
    now: number;
    expiresAt: number;
    /** The browser's User-Agent, for the sessions list (at most 200 characters kept). */
    userAgent?: string | null;
  }): Promise<void>;
  /** A user's live sessions (not revoked, not expired), newest first. */
  userSessions(input: { userId: string; now: number }): Promise<SessionRecord[]>;
  /**
   * Revoke a user's live sessions: all of them, all but `except`, or only `only`. Returns how
   * many were revoked.
   */
  revokeUserSessions(input: {
    userId: string;
    now: number;
    except?: string | null;
    only?: string;
  }): Promise<number>;
  /**
   * Set a user's password hash and revoke their other sessions (all but `keepSession`), with
   * an audit row, in one transaction.
   */
  setPassword(input: {
    userId: string;
    passwordHash: string;
    keepSession: string | null;
    now: number;
    audit: AuditInput;
  }): Promise<void>;
  /** Store a reset token (hashed) for a user; their earlier unused ones stop working. */
  createPasswordReset(input: {
    tokenHash: string;
    userId: string;
    now: number;
    expiresAt: number;
  }): Promise<void>;
  /**
   * Use a reset token once: if it is unused and unexpired, mark it used, set the password,
   * revoke every session and write an audit row, in one transaction. Null otherwise.
   */
  redeemPasswordReset(input: {
    tokenHash: string;
    passwordHash: string;
    now: number;
  }): Promise<User | null>;
  /** Security audit rows about one user (`target = user:<id>`, action `auth.*`), newest first. */
  securityEvents(input: { userId: string; limit: number }): Promise<AuditEntry[]>;
  /** The user of a live session: not revoked, not expired. */
  sessionUser(input: { tokenHash: string; now: number }): Promise<User | null>;
  revokeSession(input: { tokenHash: string; now: number }): Promise<boolean>;
  /**
   * Count one event under `key` in the fixed window of `windowMs` holding `now` (one atomic
   * upsert-increment, shared by every process): the count including this hit, and when the
   * window ends.
   */
  hitRateLimit(input: {
    key: string;
    windowMs: number;
    now: number;
  }): Promise<{ count: number; resetAt: number }>;
  /** The count under `key` in its current window (0 when none), and the last hit's time. */
  rateLimitCount(input: {
    key: string;
    now: number;
  }): Promise<{ count: number; lastAt: number | null; resetAt: number | null }>;
  /** Forget `key`'s count. */
  clearRateLimit(key: string): Promise<void>;
  createApiKey(
    input: Omit<ApiKeyRecord, 'revokedAt' | 'createdAt' | 'lastUsedAt'> & {
      keyHash: string;
      now: number;
      audit: AuditInput;
    },
  ): Promise<ApiKeyRecord>;
  /** A live key by its hash. */
  apiKeyByHash(keyHash: string): Promise<ApiKeyRecord | null>;
  apiKeys(
    input:
      | {
          workspaceId: string;
        }
      | {
          kind: 'service';
        },
  ): Promise<ApiKeyRecord[]>;
  /** Note that a live key was used at `now`; written at most once a minute per key. */
  touchApiKey(input: { id: string; now: number }): Promise<void>;
  /** What each of this workspace's keys has spent (captured or charged jobs), per wallet. */
  apiKeySpend(input: { workspaceId: string }): Promise<ApiKeySpend[]>;
  /**
   * Record an invitation; an earlier live invitation of the same email to the same workspace
   * is revoked (one live link per person). Audited.
   */
  createInvitation(
    input: Omit<InvitationRecord, 'acceptedAt' | 'acceptedBy' | 'revokedAt' | 'sentCount'> & {
      tokenHash: string;
      now: number;
      audit: AuditInput;
    },
  ): Promise<InvitationRecord>;
  /** The workspace's invitations, newest first (at most 100). */
  invitations(workspaceId: string): Promise<InvitationRecord[]>;
  /** An invitation by its link's token hash, with the workspace's name. */
  invitationByToken(
    tokenHash: string,
  ): Promise<(InvitationRecord & { workspaceName: string; invitedBy: string | null }) | null>;
  /** A new link for a live invitation (the old one stops working); null if not live. Audited. */
  reissueInvitation(input: {
    id: string;
    workspaceId: string;
    tokenHash: string;
    expiresAt: number;
    now: number;
    audit: AuditInput;
  }): Promise<InvitationRecord | null>;
  /** Revoke a live invitation of this workspace. Audited. */
  revokeInvitation(input: {
    id: string;
    workspaceId: string;
    now: number;
    audit: AuditInput;
  }): Promise<boolean>;
  /**
   * Claim a live invitation addressed to `email` (once: a conditional update) and make the
   * user a member with its role, in one transaction (an existing owner stays owner). Null when
   * the link is used, revoked, expired, superseded or for another email. Audited.
   */
  acceptInvitation(input: {
    tokenHash: string;
    userId: string;
    email: string;
    now: number;
  }): Promise<{ workspaceId: string; role: Role } | null>;
  /** Revoke a key; with `workspaceId`, only a key of that workspace. */
  revokeApiKey(input: {
    id: string;
    workspaceId: string | null;
    now: number;
    audit: AuditInput;
  }): Promise<boolean>;
  audit(
    input: AuditInput & {
      now: number;
    },
  ): Promise<void>;
  auditLog(q: {
    actor?: string;
    action?: string;
    workspaceId?: string;
    from?: number;
    to?: number;
    beforeId?: number;
    limit: number;
  }): Promise<{
    items: AuditEntry[];
    nextBeforeId: number | null;
  }>;
}

/** A live session as its owner sees it (the token itself is never stored). */
export interface SessionRecord {
  tokenHash: string;
  createdAt: number;
  expiresAt: number;
  userAgent: string | null;
}
