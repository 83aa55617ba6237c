import type { RefundJobInput, RefundJobResult } from './controls/refunds.js';
import type { WalletCatalogEntry } from '@credits/domain';
import type { Allocation, EntryType, JobStatus, LotSource, WalletKind } from '@credits/domain';
import type { AccountStore, AuditInput, Workspace } from './account-types.js';
import type { BillingStore } from './billing/types.js';
import type { AutoTopUpStore, SpendLimitsStore } from './controls/types.js';
import type { DriverStats } from './executor.js';

export type * from './account-types.js';
export type * from './billing/types.js';

export interface WalletBalance {
  kind: WalletKind;
  /** Credits a job may reserve now. */
  available: number;
  /** Credits reserved by running jobs. */
  held: number;
}

export interface Lot {
  id: string;
  workspaceId: string;
  wallet: WalletKind;
  source: LotSource;
  granted: number;
  remaining: number;
  expiresAt: number | null;
  restriction: string | null;
  orderId: string | null;
  cycleKey: string | null;
  createdAt: number;
  expiredAt: number | null;
}

export interface LedgerEntry {
  id: number;
  workspaceId: string;
  wallet: WalletKind;
  type: EntryType;
  /** Signed credits as the user reads the entry: a hold of 50 is -50, a return of 20 is +20. */
  amount: number;
  /** Change to the available balance. */
  availableDelta: number;
  /** Change to the held balance. */
  heldDelta: number;
  /** Available balance after the entry. */
  balanceAfter: number;
  heldAfter: number;
  jobId: string | null;
  orderId: string | null;
  ruleVersion: number | null;
  actor: string;
  description: string;
  /** Which lots the entry touched and by how much (signed). */
  lots: Allocation[];
  createdAt: number;
}

export interface JobRecord {
  id: string;
  workspaceId: string;
  wallet: WalletKind;
  kind: string;
  job: unknown;
  status: JobStatus;
  /** Credits reserved (for a one-step charge, the charged amount). */
  held: number;
  /** Credits finally spent; null while reserved. */
  captured: number | null;
  ruleVersion: number | null;
  breakdown: unknown;
  trialApplies: boolean;
  actor: string;
  createdAt: number;
  expiresAt: number | null;
  settledAt: number | null;
}

/** Every write names its idempotency key; the request hash tells a replay from a conflict. */
export interface Idempotent {
  idempotencyKey: string;
  requestHash: string;
}

export interface WriteBase extends Idempotent {
  workspaceId: string;
  actor: string;
  /** Written in the same transaction as the operation (admin actions). */
  audit?: AuditInput;
  /** Epoch ms: the store reads no clock. */
  now: number;
}

export interface GrantInput extends WriteBase {
  wallet: WalletKind;
  amount: number;
  source: LotSource;
  expiresAt?: number | null;
  restriction?: string | null;
  orderId?: string | null;
  cycleKey?: string | null;
  description: string;
  /** A grant the system makes (allowance, trial): its key lives in a scope callers cannot use. */
  system?: boolean;
}
export interface GrantResult {
  lotId: string;
  wallet: WalletKind;
  amount: number;
  balance: number;
}

export interface PricedJob {
  wallet: WalletKind;
  /** Job kind, e.g. video. */
  kind: string;
  job: unknown;
  credits: number;
  ruleVersion: number;
  breakdown: unknown;
  trialApplies: boolean;
  /** Restrictions this job satisfies: lots restricted to others are not touched. */
  restrictions: string[];
  description: string;
}

export interface ReserveInput extends WriteBase {
  priced: PricedJob;
  ttlMs: number;
}
export interface ReserveResult {
  holdId: string;
  wallet: WalletKind;
  credits: number;
  ruleVersion: number;
  trialApplies: boolean;
  expiresAt: number;
  balance: number;
  held: number;
  lots: Allocation[];
}

export interface CaptureInput extends WriteBase {
  holdId: string;
  /** Final cost; at most the hold. Omitted: the whole hold. */
  credits?: number;
}
export interface SettleResult {
  holdId: string;
  status: JobStatus;
  captured: number;
  returned: number;
  /** Returned credits whose lot had expired meanwhile, expired at once. */
  expired: number;
  balance: number;
  held: number;
}

export interface ReleaseInput extends WriteBase {
  holdId: string;
}

export interface ChargeInput extends WriteBase {
  priced: PricedJob;
}
export interface ChargeResult {
  jobId: string;
  wallet: WalletKind;
  credits: number;
  ruleVersion: number;
  balance: number;
  lots: Allocation[];
}

export interface HistoryQuery {
  workspaceId: string;
  wallet?: WalletKind;
  types?: EntryType[];
  /** Epoch ms, inclusive. */
  from?: number;
  /** Epoch ms, exclusive. */
  to?: number;
  /**
   * Only entries of this actor (`user:<id>`, `key:<id>`): an entry of a job belongs to the
   * actor who reserved or charged the job, whoever settled it; any other entry to its own actor.
   */
  actor?: string;
  /** Opaque cursor from a previous page. */
  cursor?: string;
  limit: number;
  /**
   * Never split a job across pages: a page also carries the older hold, spend and return
   * entries of the jobs on it (so it may hold more than `limit` entries), and later pages
   * leave those jobs out.
   */
  foldJobs?: boolean;
}
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface JobsQuery {
  workspaceId: string;
  wallet?: WalletKind;
  status?: JobStatus;
  cursor?: string;
  limit: number;
}

export interface RuleVersion {
  version: number;
  document: unknown;
  createdAt: number;
  createdBy: string;
  reason: string;
  rolledBackFrom: number | null;
}

export interface PublishRulesInput {
  document: unknown;
  createdBy: string;
  reason: string;
  rolledBackFrom?: number | null;
  now: number;
  audit?: AuditInput;
  /** Seeding: publish only when no version is active yet (else return the active one). */
  onlyIfNone?: boolean;
  /**
   * Publish only if this version is still the live one (null: none is), checked inside the
   * write; otherwise VALIDATION `{ field: 'baseVersion', activeVersion }` and nothing stored.
   */
  expectedActiveVersion?: number | null;
}

export interface InvariantViolation {
  workspaceId: string;
  wallet: string;
  invariant: string;
  detail: string;
}
export interface VerifyReport {
  ok: boolean;
  workspaces: number;
  wallets: number;
  entries: number;
  violations: InvariantViolation[];
}

export interface CreateWorkspaceInput {
  id?: string;
  name: string;
  plan: string;
  features?: string[];
  billingAnchorDay: number;
  wallets: readonly WalletKind[];
  now: number;
  idempotencyKey: string;
  requestHash: string;
}

/** The ledger's storage, the same contract for SQLite and PostgreSQL. */
export interface Store {
  readonly dialect: 'sqlite' | 'postgres';
  migrate(): Promise<number>;
  close(): Promise<void>;
  stats(): DriverStats;

  createWorkspace(input: CreateWorkspaceInput): Promise<Workspace>;
  getWorkspace(id: string): Promise<Workspace | null>;
  listWorkspaceIds(): Promise<string[]>;

  grant(input: GrantInput): Promise<GrantResult>;
  reserve(input: ReserveInput): Promise<ReserveResult>;
  capture(input: CaptureInput): Promise<SettleResult>;
  release(input: ReleaseInput): Promise<SettleResult>;
  charge(input: ChargeInput): Promise<ChargeResult>;
  /** Refund part or all of a captured or charged job, back to the lots that paid. */
  refundJob(input: RefundJobInput): Promise<RefundJobResult>;
  /** Settle holds past their TTL; returns how many it expired. */
  expireHolds(input: { now: number; limit?: number }): Promise<number>;
  /** Turn the remainder of lots past expiry into `expire` entries, once each. */
  expireLots(input: { now: number; workspaceId?: string; limit?: number }): Promise<number>;
  /** Forget idempotency keys older than `before` (kept at least 24 h by the caller). */
  pruneIdempotencyKeys(input: { before: number }): Promise<number>;

  wallets(workspaceId: string): Promise<WalletBalance[]>;
  lots(input: { workspaceId: string; wallet?: WalletKind }): Promise<Lot[]>;
  /** True when some lot of the workspace is past expiry and not yet expired. */
  hasDueLots(input: { workspaceId: string; now: number }): Promise<boolean>;
  getJob(input: { workspaceId: string; jobId: string }): Promise<JobRecord | null>;
  history(query: HistoryQuery): Promise<Page<LedgerEntry>>;
  jobs(query: JobsQuery): Promise<Page<JobRecord>>;

  activeRules(): Promise<RuleVersion | null>;
  ruleVersions(): Promise<Omit<RuleVersion, 'document'>[]>;
  getRuleVersion(version: number): Promise<RuleVersion | null>;
  /** Append a version and make it active; returns it. */
  publishRules(input: PublishRulesInput): Promise<RuleVersion>;

  /** The one shared draft rule document admins edit before publishing. */
  ruleDraft(): Promise<{ document: unknown; updatedAt: number; updatedBy: string } | null>;
  saveRuleDraft(input: { document: unknown; updatedBy: string; now: number }): Promise<void>;
  /** Jobs created since `since` across every workspace, newest first, with their workspace's plan and features. */
  recentJobs(input: {
    since: number;
    limit: number;
  }): Promise<(JobRecord & { plan: string; features: string[] })[]>;

  /** Users, memberships, sessions, API keys and the audit log. */
  readonly accounts: AccountStore;
  /** Plans, packs, catalog, orders, refunds, adjustments, notifications, cycles. */
  readonly billing: BillingStore;
  /** Spending limits and their alerts (SPEC 15). */
  readonly spendLimits: SpendLimitsStore;
  /** Saved payment methods, auto top-up consents, settings and purchases (SPEC 15). */
  readonly autoTopUp: AutoTopUpStore;
  /** The wallet catalog (cached; refreshed every few seconds and after edits). */
  catalogSnapshot(): WalletCatalogEntry[];
  /** Reload the cached wallet catalog. */
  refreshCatalog(): Promise<void>;

  /** Check SPEC 13's invariants over every wallet. */
  verify(): Promise<VerifyReport>;

  /**
   * Readiness: one tiny idempotent write (an upsert of the `health_probe` row `id`), which
   * fails rather than waits past `timeoutMs` where the database can bound it (PostgreSQL's
   * lock and statement timeouts); resolves once it committed.
   */
  probeWrite(input: { id: string; now: number; timeoutMs: number }): Promise<void>;
}

export type { RefundJobInput, RefundJobResult } from './controls/refunds.js';
