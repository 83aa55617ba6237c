import {
  DEFAULT_PACKS,
  DEFAULT_PLANS,
  DEFAULT_WALLET_CATALOG,
  WALLET_KINDS,
  type WalletCatalogEntry,
  type WalletKind,
} from '@credits/domain';
import type { Driver, TxExecutor } from './executor.js';
import { LedgerTx } from './ledger-tx.js';
import { accountStore } from './accounts-store.js';
import type { AccountStore } from './account-types.js';
import type { AutoTopUpStore } from './controls/types.js';
import { billingStore } from './billing/index.js';
import { SqlSpendLimits } from './controls/limits-store.js';
import { autoTopUpStore } from './controls/auto-top-up-store.js';
import { refundJobBody, type RefundJobInput, type RefundJobResult } from './controls/refunds.js';
import { idempotent, pruneIdempotencyKeys, type Idempotent } from './idempotency.js';
import type { MoneyContext } from './money/context.js';
import * as grants from './money/grants.js';
import * as holds from './money/holds.js';
import * as spend from './money/spend.js';
import { migrationsFor } from './schema.js';
import * as reads from './reads.js';
import * as rules from './rules-store.js';
import { verifyLedger } from './verify.js';
import * as workspaces from './workspaces.js';
import type {
  BillingStore,
  CaptureInput,
  ChargeInput,
  ChargeResult,
  CreateWorkspaceInput,
  GrantInput,
  GrantResult,
  HistoryQuery,
  JobRecord,
  JobsQuery,
  LedgerEntry,
  Lot,
  Page,
  PublishRulesInput,
  ReleaseInput,
  ReserveInput,
  ReserveResult,
  RuleVersion,
  SettleResult,
  Store,
  VerifyReport,
  WalletBalance,
  Workspace,
} from './types.js';

/**
 * The ledger, written once over a {@link Driver}: the `Store` callers use. Every write is
 * one atomic operation that claims its idempotency key first (idempotency.ts), locks the
 * wallet, moves lots, writes entries and stores its answer for replays. This class wires the
 * parts together and delegates: money moves to money/ (spend.ts: charges and the spend path;
 * holds.ts: reserve, capture, release, expiry; grants.ts: grants and lot expiry), workspaces
 * to workspaces.ts, reads to reads.ts, rules to rules-store.ts, verify to verify.ts.
 */
export class LedgerStore implements Store, MoneyContext {
  readonly accounts: AccountStore;
  readonly billing: BillingStore;
  readonly spendLimits: SqlSpendLimits;
  readonly autoTopUp: AutoTopUpStore;
  constructor(readonly driver: Driver) {
    this.accounts = accountStore(driver);
    this.spendLimits = new SqlSpendLimits(driver);
    this.autoTopUp = autoTopUpStore(driver, (kind) => this.catalogView(kind).label);
    this.billing = billingStore(
      driver,
      (tx) => this.ltx(tx),
      (input, body) => this.idempotent(input, body),
      () => void this.refreshCatalog(),
    );
  }

  /** The wallet catalog as last loaded (the seeded defaults before the first load). */
  catalogSnapshot(): WalletCatalogEntry[] {
    this.refreshCatalogIfStale();
    const entries = this.catalogCache?.entries;
    return WALLET_KINDS.map((k) => entries?.get(k) ?? DEFAULT_WALLET_CATALOG[k]);
  }

  /** Reload in the background when the cache is older than 5 s (another process may have edited it). */
  private refreshCatalogIfStale(): void {
    if (this.catalogCache && Date.now() - this.catalogCache.at > 5000) {
      this.catalogCache.at = Date.now();
      void this.refreshCatalog().catch(() => undefined);
    }
  }

  /** Reload the wallet catalog that alerts read (after migrate, after edits, and every 5 s). */
  async refreshCatalog(): Promise<void> {
    const entries = await this.billing.catalog();
    this.catalogCache = { at: Date.now(), entries: new Map(entries.map((e) => [e.kind, e])) };
  }

  /** @internal the adapter, for whole-store tools (copy). */
  rawDriver(): Driver {
    return this.driver;
  }

  get dialect() {
    return this.driver.dialect;
  }

  /**
   * Apply pending migrations, then insert the reference data a fresh install needs (the
   * seeded plans, packs and wallet catalog) where missing; admins' edits are kept.
   */
  async migrate(): Promise<number> {
    const applied = await this.driver.migrate(migrationsFor(this.driver.dialect));
    await this.billing.seed({
      plans: DEFAULT_PLANS,
      packs: DEFAULT_PACKS,
      catalog: WALLET_KINDS.map((k) => DEFAULT_WALLET_CATALOG[k]),
      now: Date.now(),
    });
    await this.refreshCatalog();
    return applied;
  }

  close(): Promise<void> {
    return this.driver.close();
  }

  stats() {
    return this.driver.stats();
  }

  // ---------------------------------------------------------------- building blocks

  /** @internal the building blocks of one transaction (money code). */
  ltx(tx: TxExecutor): LedgerTx {
    return new LedgerTx(tx, this.driver.lockRows, (kind) => this.catalogView(kind));
  }

  /** The wallet catalog, cached; refreshed every few seconds and after edits here. */
  private catalogCache: { at: number; entries: Map<string, WalletCatalogEntry> } | null = null;
  private catalogView(kind: WalletKind): {
    label: string;
    lowThreshold: number;
    available: boolean;
  } {
    this.refreshCatalogIfStale();
    const entry = this.catalogCache?.entries.get(kind) ?? DEFAULT_WALLET_CATALOG[kind];
    return { label: entry.label, lowThreshold: entry.lowThreshold, available: entry.available };
  }

  /** @internal idempotent writes over this store's driver (money code, the billing store). */
  readonly idempotent: Idempotent = (input, body, prefetch) =>
    idempotent(this.driver, input, body, prefetch);

  // ---------------------------------------------------------------- workspaces (workspaces.ts)

  createWorkspace(input: CreateWorkspaceInput): Promise<Workspace> {
    return workspaces.createWorkspace(this.driver, input);
  }

  getWorkspace(id: string): Promise<Workspace | null> {
    return workspaces.getWorkspace(this.driver, id);
  }

  listWorkspaceIds(): Promise<string[]> {
    return workspaces.listWorkspaceIds(this.driver);
  }

  // ---------------------------------------------------------------- money moves (money/)

  grant(input: GrantInput): Promise<GrantResult> {
    return grants.grant(this, input);
  }

  reserve(input: ReserveInput): Promise<ReserveResult> {
    return holds.reserve(this, input);
  }

  capture(input: CaptureInput): Promise<SettleResult> {
    return holds.capture(this, input);
  }

  release(input: ReleaseInput): Promise<SettleResult> {
    return holds.release(this, input);
  }

  charge(input: ChargeInput): Promise<ChargeResult> {
    return spend.charge(this, input);
  }

  /** Refund part or all of a finished job (controls/refunds.ts). */
  refundJob(input: RefundJobInput): Promise<RefundJobResult> {
    return this.idempotent(
      {
        scope: input.workspaceId,
        key: input.idempotencyKey,
        operation: 'refund_job',
        requestHash: input.requestHash,
        now: input.now,
      },
      (tx) => refundJobBody(tx, this.ltx(tx), input),
    );
  }

  expireHolds(input: { now: number; limit?: number }): Promise<number> {
    return holds.expireHolds(this, input);
  }

  expireLots(input: { now: number; workspaceId?: string; limit?: number }): Promise<number> {
    return grants.expireLots(this, input);
  }

  pruneIdempotencyKeys(input: { before: number }): Promise<number> {
    return pruneIdempotencyKeys(this.driver, input);
  }

  // ---------------------------------------------------------------- reads (reads.ts)

  wallets(workspaceId: string): Promise<WalletBalance[]> {
    return reads.wallets(this.driver.read, workspaceId);
  }

  lots(input: { workspaceId: string; wallet?: WalletKind }): Promise<Lot[]> {
    return reads.lots(this.driver.read, input);
  }

  hasDueLots(input: { workspaceId: string; now: number }): Promise<boolean> {
    return reads.hasDueLots(this.driver.read, input);
  }

  getJob(input: { workspaceId: string; jobId: string }): Promise<JobRecord | null> {
    return reads.getJob(this.driver.read, input);
  }

  history(q: HistoryQuery): Promise<Page<LedgerEntry>> {
    return reads.history(this.driver.read, q);
  }

  jobs(q: JobsQuery): Promise<Page<JobRecord>> {
    return reads.jobs(this.driver.read, q);
  }

  recentJobs(input: {
    since: number;
    limit: number;
  }): Promise<(JobRecord & { plan: string; features: string[] })[]> {
    return reads.recentJobs(this.driver.read, input);
  }

  // ---------------------------------------------------------------- rules (rules-store.ts)

  activeRules(): Promise<RuleVersion | null> {
    return rules.activeRules(this.driver.read);
  }

  ruleVersions(): Promise<Omit<RuleVersion, 'document'>[]> {
    return rules.ruleVersions(this.driver.read);
  }

  getRuleVersion(version: number): Promise<RuleVersion | null> {
    return rules.getRuleVersion(this.driver.read, version);
  }

  publishRules(input: PublishRulesInput): Promise<RuleVersion> {
    return rules.publishRules(this.driver, input);
  }

  ruleDraft(): Promise<{ document: unknown; updatedAt: number; updatedBy: string } | null> {
    return rules.ruleDraft(this.driver.read);
  }

  saveRuleDraft(input: { document: unknown; updatedBy: string; now: number }): Promise<void> {
    return rules.saveRuleDraft(this.driver, input);
  }

  // ---------------------------------------------------------------- verify

  verify(): Promise<VerifyReport> {
    return this.driver.snapshot((tx) => verifyLedger(tx));
  }

  // ---------------------------------------------------------------- readiness

  async probeWrite(input: { id: string; now: number; timeoutMs: number }): Promise<void> {
    const ms = Math.max(1, Math.floor(input.timeoutMs));
    await this.driver.write(async (tx) => {
      if (this.driver.dialect === 'postgres') {
        // This transaction only: a locked probe row or a stuck statement fails it in `ms`.
        await tx.run(`SET LOCAL lock_timeout = ${ms}`);
        await tx.run(`SET LOCAL statement_timeout = ${ms}`);
      }
      await tx.run(
        `INSERT INTO health_probe (id, probed_at) VALUES (?, ?)
         ON CONFLICT (id) DO UPDATE SET probed_at = excluded.probed_at`,
        [input.id, input.now],
      );
    });
  }
}
