import { randomUUID } from 'node:crypto';
import {
  CreditsError,
  DEFAULT_PACKS,
  DEFAULT_PLANS,
  DEFAULT_WALLET_CATALOG,
  WALLET_KINDS,
  type WalletCatalogEntry,
  assertCredits,
  returnOrder,
  type Allocation,
  type EntryType,
  type JobStatus,
  type LotSource,
  type WalletKind,
} from '@credits/domain';
import {
  Rollback,
  RunAfterCommit,
  type Driver,
  type RowGroup,
  type TxExecutor,
} from './executor.js';
import { LedgerTx, type WalletRead } from './ledger-tx.js';
import { SqlAccountStore, writeAudit } from './accounts-store.js';
import { billingStore } from './billing/index.js';
import { SqlSpendLimits } from './controls/limits-store.js';
import { SqlAutoTopUp } from './controls/auto-top-up-store.js';
import { admitSpend, settleSpend, verifyCounters } from './controls/enforce.js';
import {
  refundJobBody,
  verifyRefunds,
  type RefundJobInput,
  type RefundJobResult,
} from './controls/refunds.js';
import { migrationsFor } from './schema.js';
import type {
  AuditInput,
  BillingStore,
  CaptureInput,
  ChargeInput,
  ChargeResult,
  CreateWorkspaceInput,
  GrantInput,
  GrantResult,
  HistoryQuery,
  InvariantViolation,
  JobRecord,
  JobsQuery,
  LedgerEntry,
  Lot,
  Page,
  PricedJob,
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

const ENTRY_OF_SOURCE: Record<LotSource, EntryType> = {
  plan_allowance: 'grant',
  promo: 'grant',
  purchase: 'purchase',
  trial: 'trial',
  adjustment: 'adjustment',
};

/** Scope of idempotency keys for writes that belong to no workspace yet. */
const ADMIN_SCOPE = '_admin';

function newId(prefix: string): string {
  return `${prefix}_${randomUUID().replaceAll('-', '')}`;
}

const LOT_COLUMNS = `id, workspace_id AS "workspaceId", wallet, source, granted, remaining,
  expires_at AS "expiresAt", restriction, order_id AS "orderId", cycle_key AS "cycleKey",
  created_at AS "createdAt", expired_at AS "expiredAt"`;

const JOB_COLUMNS = `id, workspace_id AS "workspaceId", wallet, kind, job, status, held, captured,
  rule_version AS "ruleVersion", breakdown, trial_applies AS "trialApplies", actor,
  created_at AS "createdAt", expires_at AS "expiresAt", settled_at AS "settledAt"`;

const ENTRY_COLUMNS = `id, workspace_id AS "workspaceId", wallet, type, amount,
  available_delta AS "availableDelta", held_delta AS "heldDelta", balance_after AS "balanceAfter",
  held_after AS "heldAfter", job_id AS "jobId", order_id AS "orderId",
  rule_version AS "ruleVersion", actor, description, lots, created_at AS "createdAt"`;

/** The optimistic attempt found its idempotency key taken: it rolls back, the careful path answers. */
class KeyTaken extends Rollback {
  constructor() {
    super('idempotency key taken');
    this.name = 'KeyTaken';
  }
}

/** Claim an idempotency key: one row back when this operation has it, none when taken. */
const CLAIM_KEY = `INSERT INTO idempotency_keys (scope, key, operation, request_hash, created_at)
  VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1 AS claimed`;

/** A key claimed with its answer at once (pipelined: the body has already run). */
const KEY_WITH_ANSWER: RowGroup = {
  head: `INSERT INTO idempotency_keys (scope, key, operation, request_hash, created_at, response) VALUES`,
  columns: 6,
};

/** Which lots a hold drew from, appended (read only when the hold settles, in a later commit). */
const HOLD_LOT_ROWS: RowGroup = {
  head: `INSERT INTO hold_lots (job_id, lot_id, position, amount) VALUES`,
  columns: 4,
};

/** A key's stored answer, written with the batch (the key itself was claimed first). */
const KEY_ANSWERS: RowGroup = {
  head: `INSERT INTO idempotency_keys (scope, key, operation, request_hash, created_at, response) VALUES`,
  columns: 6,
  tail: `ON CONFLICT (scope, key) DO UPDATE SET response = excluded.response`,
};

/** Jobs that are finished when written (charges), appended. */
const JOB_ROWS: RowGroup = {
  head: `INSERT INTO jobs (id, workspace_id, wallet, kind, job, status, held, captured, rule_version,
  breakdown, trial_applies, actor, created_at, expires_at, settled_at) VALUES`,
  columns: 15,
};

function jobParams(j: {
  id: string;
  input: { workspaceId: string; priced: PricedJob; actor: string; now: number };
  status: JobStatus;
  captured: number | null;
  expiresAt: number | null;
  settledAt: number | null;
}): unknown[] {
  const p = j.input.priced;
  return [
    j.id,
    j.input.workspaceId,
    p.wallet,
    p.kind,
    JSON.stringify(p.job),
    j.status,
    p.credits,
    j.captured,
    p.ruleVersion,
    JSON.stringify(p.breakdown),
    p.trialApplies ? 1 : 0,
    j.input.actor,
    j.input.now,
    j.expiresAt,
    j.settledAt,
  ];
}

type JobRow = Omit<JobRecord, 'job' | 'breakdown' | 'trialApplies'> & {
  job: string;
  breakdown: string;
  trialApplies: number;
};
type EntryRow = Omit<LedgerEntry, 'lots'> & { lots: string };

function toJob(r: JobRow): JobRecord {
  return {
    ...r,
    job: JSON.parse(r.job),
    breakdown: JSON.parse(r.breakdown),
    trialApplies: Boolean(r.trialApplies),
  };
}

function toEntry(r: EntryRow): LedgerEntry {
  return { ...r, lots: JSON.parse(r.lots) as Allocation[] };
}

function encodeCursor(parts: (string | number)[]): string {
  return Buffer.from(JSON.stringify(parts)).toString('base64url');
}

function decodeCursor(cursor: string, shape: ('string' | 'number')[]): (string | number)[] {
  try {
    const parts: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(parts) &&
      parts.length === shape.length &&
      // Numbers we issue are ids and epoch ms: whole, non-negative, safe. Anything else (1.5,
      // 1e30, 1e400 → Infinity) is not ours, and PostgreSQL would fail on it as a bigint.
      parts.every(
        (p, i) =>
          typeof p === shape[i] && (typeof p !== 'number' || (Number.isSafeInteger(p) && p >= 0)),
      )
    ) {
      return parts as (string | number)[];
    }
  } catch {
    // fall through to the validation error below
  }
  throw new CreditsError('VALIDATION', 'The cursor is not one this server issued.', {
    field: 'cursor',
  });
}

/**
 * The ledger, written once over a {@link Driver}. Every write is one atomic operation that
 * claims its idempotency key first (a UNIQUE key in the database), locks the wallet, moves
 * lots, writes entries and stores its answer for replays.
 */
/** What the spending limits check of a priced job (see controls/enforce.ts). */
const limitJob = (p: PricedJob) => ({ wallet: p.wallet, credits: p.credits });

export class LedgerStore implements Store {
  readonly accounts: SqlAccountStore;
  readonly billing: BillingStore;
  readonly spendLimits: SqlSpendLimits;
  readonly autoTopUp: SqlAutoTopUp;
  constructor(private readonly driver: Driver) {
    this.accounts = new SqlAccountStore(driver);
    this.spendLimits = new SqlSpendLimits(driver);
    this.autoTopUp = new SqlAutoTopUp(driver, (kind) => this.catalogView(kind).label);
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

  private ltx(tx: TxExecutor): LedgerTx {
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

  /** @internal shared with the billing store */
  idempotent<T, P = undefined>(
    input: {
      scope: string;
      key: string;
      operation: string;
      requestHash: string;
      now: number;
      audit?: AuditInput;
      /** False for operations that read no appended rows (see {@link WriteOptions}). */
      readsAppended?: boolean;
      /** The body may run pipelined (see {@link WriteOptions}). */
      pipelined?: boolean;
    },
    body: (tx: TxExecutor, prefetched?: Promise<P>) => Promise<T>,
    /** Reads (only reads) to start alongside the key's claim, saving a round trip. */
    prefetch?: (tx: TxExecutor) => Promise<P>,
  ): Promise<T> {
    const options = {
      readsAppended: input.readsAppended ?? true,
      pipelined: input.pipelined ?? false,
    };
    // First, optimistically: claim the key and run the body at once (a new key is the usual
    // case), so the claim costs no round trip of its own. If the key turns out taken, that
    // attempt rolls back whole and the careful path below answers.
    return this.driver
      .write((tx) => this.claimAndRun(tx, input, body, prefetch, true), options)
      .catch((e: unknown) => {
        // The careful path runs alone (never pipelined): its key is known to be taken.
        if (e instanceof KeyTaken) {
          return this.driver.write((tx) => this.claimAndRun(tx, input, body, prefetch, false), {
            ...options,
            pipelined: false,
          });
        }
        throw e;
      });
  }

  /**
   * Claim the key (the database's UNIQUE key decides who has it), run the body, append the
   * answer. `optimistic`: the body runs while the claim is in flight, and a taken key throws
   * {@link KeyTaken} (rolling everything back); otherwise the claim is awaited first and a
   * taken key replays the stored answer or refuses a different request.
   */
  private async claimAndRun<T, P>(
    tx: TxExecutor,
    input: {
      scope: string;
      key: string;
      operation: string;
      requestHash: string;
      now: number;
      audit?: AuditInput;
    },
    body: (tx: TxExecutor, prefetched?: Promise<P>) => Promise<T>,
    prefetch: ((tx: TxExecutor) => Promise<P>) | undefined,
    optimistic: boolean,
  ): Promise<T> {
    const pre = prefetch?.(tx);
    // Handled here; the body (or the replay path below) waits for it.
    pre?.catch(() => undefined);
    if (tx.pipelined) {
      // The claim goes with the body's writes, answer and all; a taken key fails the check,
      // and the driver runs this operation again on its own (where a taken key replays).
      const result = await body(tx, pre);
      if (input.audit) throw new Error('ledger bug: an audited operation cannot run pipelined');
      tx.insert(KEY_WITH_ANSWER, [
        input.scope,
        input.key,
        input.operation,
        input.requestHash,
        input.now,
        JSON.stringify(result),
      ]);
      return result;
    }
    const claim = tx.all<{ claimed: number }>(CLAIM_KEY, [
      input.scope,
      input.key,
      input.operation,
      input.requestHash,
      input.now,
    ]);
    if (optimistic) {
      claim.catch(() => undefined);
      let result: T;
      try {
        result = await body(tx, pre);
      } catch (e) {
        // A refusal means nothing if the key was taken: the first answer stands.
        if ((await claim).length === 0) throw new KeyTaken();
        throw e;
      }
      if ((await claim).length === 0) throw new KeyTaken();
      return this.answer(tx, input, result);
    }
    if ((await claim).length === 0) {
      if (pre) await pre.catch(() => undefined);
      const prior = await tx.get<{
        operation: string;
        requestHash: string;
        response: string | null;
      }>(
        `SELECT operation, request_hash AS "requestHash", response FROM idempotency_keys
         WHERE scope = ? AND key = ?`,
        [input.scope, input.key],
      );
      if (!prior) throw new Error('idempotency key claimed and gone');
      // Claimed by an operation of the same open transaction whose answer is not written
      // yet (a concurrent duplicate): answer once that one has committed.
      if (prior.response === null) throw new RunAfterCommit();
      if (prior.operation !== input.operation || prior.requestHash !== input.requestHash) {
        throw new CreditsError(
          'IDEMPOTENCY_CONFLICT',
          'This idempotency key was already used for a different request.',
          { idempotencyKey: input.key, firstOperation: prior.operation },
        );
      }
      return JSON.parse(prior.response) as T;
    }
    return this.answer(tx, input, await body(tx, pre));
  }

  /** Audit (when asked) and store the answer with the key, for replays. */
  private async answer<T>(
    tx: TxExecutor,
    input: {
      scope: string;
      key: string;
      operation: string;
      requestHash: string;
      now: number;
      audit?: AuditInput;
    },
    result: T,
  ): Promise<T> {
    if (input.audit)
      await writeAudit(tx, { ...input.audit, after: input.audit.after ?? result }, input.now);
    tx.append(KEY_ANSWERS, [
      input.scope,
      input.key,
      input.operation,
      input.requestHash,
      input.now,
      JSON.stringify(result),
    ]);
    return result;
  }

  /** Lock the job's wallet, expire what is due, and draw the job's credits in spend order. */
  private async draw(
    tx: TxExecutor,
    input: { workspaceId: string; priced: PricedJob; now: number; actor: string },
    read?: Promise<WalletRead>,
  ) {
    const ltx = this.ltx(tx);
    const { w, lots } = await ltx.openWalletWithLots(
      input.workspaceId,
      input.priced.wallet,
      input.now,
      input.actor,
      read,
    );
    const allocations = await ltx.spendPlan(w, {
      credits: input.priced.credits,
      restrictions: input.priced.restrictions,
      now: input.now,
      actor: input.actor,
      live: lots,
    });
    /** Call once the wallet's entries are written and saved. */
    const remember = () => ltx.remember(w, lots, allocations);
    return { w, allocations, remember };
  }

  // ---------------------------------------------------------------- workspaces

  createWorkspace(input: CreateWorkspaceInput): Promise<Workspace> {
    return this.idempotent(
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

  async getWorkspace(id: string): Promise<Workspace | null> {
    const row = await this.driver.read.get<Omit<Workspace, 'features'> & { features: string }>(
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

  async listWorkspaceIds(): Promise<string[]> {
    const rows = await this.driver.read.all<{ id: string }>(
      `SELECT id FROM workspaces ORDER BY id`,
    );
    return rows.map((r) => r.id);
  }

  // ---------------------------------------------------------------- money movement

  grant(input: GrantInput): Promise<GrantResult> {
    assertCredits(input.amount);
    if (input.amount === 0) throw new Error('a grant must be positive');
    return this.idempotent(
      {
        // System grants (allowances, the trial) keep their keys apart from callers' keys, so
        // no caller can take the key of a grant the system will make.
        scope: input.system ? `_system:${input.workspaceId}` : input.workspaceId,
        key: input.idempotencyKey,
        operation: 'grant',
        requestHash: input.requestHash,
        now: input.now,
        audit: input.audit,
        readsAppended: false,
      },
      async (tx) => {
        const w = await this.ltx(tx).openWallet(input.workspaceId, input.wallet);
        const lotId = newId('lot');
        await tx.run(
          `INSERT INTO lots (id, workspace_id, wallet, source, granted, remaining, expires_at,
            restriction, order_id, cycle_key, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          [
            lotId,
            input.workspaceId,
            input.wallet,
            input.source,
            input.amount,
            input.amount,
            input.expiresAt ?? null,
            input.restriction ?? null,
            input.orderId ?? null,
            input.cycleKey ?? null,
            input.now,
          ],
        );
        await w.entry({
          type: ENTRY_OF_SOURCE[input.source],
          amount: input.amount,
          availableDelta: input.amount,
          heldDelta: 0,
          orderId: input.orderId ?? null,
          actor: input.actor,
          description: input.description,
          lots: [{ lotId, amount: input.amount }],
          now: input.now,
        });
        const after = await w.save(input.now);
        return { lotId, wallet: input.wallet, amount: input.amount, balance: after.available };
      },
    );
  }

  reserve(input: ReserveInput): Promise<ReserveResult> {
    const { priced } = input;
    return this.idempotent<ReserveResult, WalletRead>(
      {
        scope: input.workspaceId,
        key: input.idempotencyKey,
        operation: 'reserve',
        requestHash: input.requestHash,
        now: input.now,
        readsAppended: false,
        pipelined: true,
      },
      async (tx, read) => {
        const { w, allocations, remember } = await this.draw(tx, input, read);
        // Spending limits (controls/enforce.ts): refuse, or count the hold, wallet locked.
        await admitSpend(tx, { ...input, ...limitJob(priced), kind: 'hold' });
        const holdId = newId('hold');
        const expiresAt = input.now + input.ttlMs;
        // The hold's job goes in with the operation; its lots with the batch, after it.
        tx.insert(
          JOB_ROWS,
          jobParams({
            id: holdId,
            input,
            status: 'reserved',
            captured: null,
            expiresAt,
            settledAt: null,
          }),
        );
        allocations.forEach((a, i) => tx.append(HOLD_LOT_ROWS, [holdId, a.lotId, i, a.amount]));
        await w.entry({
          type: 'hold',
          amount: -priced.credits,
          availableDelta: -priced.credits,
          heldDelta: priced.credits,
          jobId: holdId,
          ruleVersion: priced.ruleVersion,
          actor: input.actor,
          description: `Hold for ${priced.description}`,
          lots: allocations.map((a) => ({ lotId: a.lotId, amount: -a.amount })),
          now: input.now,
        });
        const after = await w.save(input.now);
        remember();
        return {
          holdId,
          wallet: priced.wallet,
          credits: priced.credits,
          ruleVersion: priced.ruleVersion,
          trialApplies: priced.trialApplies,
          expiresAt,
          balance: after.available,
          held: after.held,
          lots: allocations,
        };
      },
      (tx) => this.ltx(tx).readWalletAndLots(input.workspaceId, input.priced.wallet),
    );
  }

  capture(input: CaptureInput): Promise<SettleResult> {
    return this.idempotent(
      // readsAppended: false although settling reads the hold's lots, which are appended: a
      // hold's id reaches its caller only after the commit that wrote them (the sweeper reads
      // committed holds too), so no capture or release can meet them unwritten.
      {
        scope: input.workspaceId,
        key: input.idempotencyKey,
        operation: 'capture',
        requestHash: input.requestHash,
        now: input.now,
        readsAppended: false,
      },
      async (tx) => {
        const job = await this.openHold(tx, input.workspaceId, input.holdId, input.now);
        const credits = input.credits ?? job.held;
        assertCredits(credits);
        if (credits > job.held) {
          throw new CreditsError(
            'CAPTURE_EXCEEDS_HOLD',
            'A capture cannot take more than the hold.',
            {
              holdId: job.id,
              held: job.held,
              requested: credits,
            },
          );
        }
        return this.settle(tx, job, {
          status: 'completed',
          captured: credits,
          now: input.now,
          actor: input.actor,
        });
      },
    );
  }

  release(input: ReleaseInput): Promise<SettleResult> {
    return this.idempotent(
      {
        scope: input.workspaceId,
        key: input.idempotencyKey,
        operation: 'release',
        requestHash: input.requestHash,
        now: input.now,
        readsAppended: false,
      },
      async (tx) => {
        const job = await this.openHold(tx, input.workspaceId, input.holdId, input.now);
        return this.settle(tx, job, {
          status: 'failed',
          captured: 0,
          now: input.now,
          actor: input.actor,
        });
      },
    );
  }

  private async openHold(
    tx: TxExecutor,
    workspaceId: string,
    holdId: string,
    now: number,
  ): Promise<JobRecord> {
    const row = await tx.get<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ? AND workspace_id = ?`,
      [holdId, workspaceId],
    );
    if (!row || row.expiresAt === null) {
      throw new CreditsError('HOLD_NOT_FOUND', 'No such hold in this workspace.', { holdId });
    }
    const job = toJob(row);
    job.held = Number(job.held);
    job.expiresAt = Number(job.expiresAt);
    if (job.status !== 'reserved') {
      throw new CreditsError('HOLD_SETTLED', `This hold is already ${job.status}.`, {
        holdId,
        status: job.status,
      });
    }
    if (job.expiresAt <= now) {
      throw new CreditsError('HOLD_SETTLED', 'This hold expired; its credits are being returned.', {
        holdId,
        status: 'expired',
      });
    }
    return job;
  }

  /**
   * Settle a hold once: the status update matches only a reserved job, so a second
   * settlement (capture, release or expiry racing) finds nothing and fails.
   */
  private async settle(
    tx: TxExecutor,
    job: JobRecord,
    s: { status: Exclude<JobStatus, 'reserved'>; captured: number; now: number; actor: string },
  ): Promise<SettleResult> {
    const w = await this.ltx(tx).openWallet(job.workspaceId, job.wallet);
    const won = await tx.run(
      `UPDATE jobs SET status = ?, captured = ?, settled_at = ? WHERE id = ? AND status = 'reserved'`,
      [s.status, s.captured, s.now, job.id],
    );
    if (won.changes !== 1) {
      throw new CreditsError('HOLD_SETTLED', 'This hold is already settled.', { holdId: job.id });
    }
    await settleSpend(tx, { ...job, captured: s.captured, now: s.now });
    const drawn = (
      await tx.all<{ lotId: string; amount: number }>(
        `SELECT lot_id AS "lotId", amount FROM hold_lots WHERE job_id = ? ORDER BY position`,
        [job.id],
      )
    ).map((r) => ({ lotId: r.lotId, amount: Number(r.amount) }));
    const total = drawn.reduce((sum, a) => sum + a.amount, 0);
    if (total !== job.held)
      throw new Error(`ledger bug: hold ${job.id} allocations ${total} ≠ ${job.held}`);

    const back = returnOrder({ allocations: drawn, amount: job.held - s.captured });
    const backBy = new Map(back.map((a) => [a.lotId, a.amount]));
    const spent = drawn
      .map((a) => ({ lotId: a.lotId, amount: a.amount - (backBy.get(a.lotId) ?? 0) }))
      .filter((a) => a.amount > 0);
    // Whether a returned part goes back to its lot or expires is decided by the lot's row as
    // this write finds it, not by what anyone read before: the update matches only a lot that
    // is still live (not expired by the sweeper or another process, not closed by a refund,
    // which sets expired_at, and not past its time at this write's `now`). A part whose lot
    // is dead expires here, so no credits are ever put back into a dead lot.
    const landed = await Promise.all(
      back.map((a) =>
        tx.all<{ id: string }>(
          `UPDATE lots SET remaining = remaining + ?
           WHERE id = ? AND expired_at IS NULL AND (expires_at IS NULL OR expires_at > ?)
           RETURNING id`,
          [a.amount, a.lotId, s.now],
        ),
      ),
    );
    const returned: Allocation[] = [];
    const expired: Allocation[] = [];
    back.forEach((a, i) => (landed[i]!.length === 1 ? returned : expired).push(a));
    const sum = (xs: Allocation[]) => xs.reduce((t, a) => t + a.amount, 0);
    const ruleVersion = job.ruleVersion;

    if (s.captured > 0) {
      await w.entry({
        type: 'spend',
        amount: -s.captured,
        availableDelta: 0,
        heldDelta: -s.captured,
        jobId: job.id,
        ruleVersion,
        actor: s.actor,
        description: 'Job completed: held credits spent',
        lots: spent.map((a) => ({ lotId: a.lotId, amount: -a.amount })),
        now: s.now,
      });
    }
    if (returned.length > 0) {
      const reason =
        s.status === 'completed'
          ? 'Unused part of the hold returned'
          : s.status === 'failed'
            ? 'Job failed: credits returned'
            : 'Hold expired: credits returned';
      await w.entry({
        type: 'return',
        amount: sum(returned),
        availableDelta: sum(returned),
        heldDelta: -sum(returned),
        jobId: job.id,
        ruleVersion,
        actor: s.actor,
        description: reason,
        lots: returned,
        now: s.now,
      });
    }
    if (expired.length > 0) {
      await w.entry({
        type: 'expire',
        amount: -sum(expired),
        availableDelta: 0,
        heldDelta: -sum(expired),
        jobId: job.id,
        ruleVersion,
        actor: s.actor,
        description: 'Returned credits whose lot had expired',
        lots: expired.map((a) => ({ lotId: a.lotId, amount: -a.amount })),
        now: s.now,
      });
    }
    const after = await w.save(s.now);
    return {
      holdId: job.id,
      status: s.status,
      captured: s.captured,
      returned: sum(returned),
      expired: sum(expired),
      balance: after.available,
      held: after.held,
    };
  }

  charge(input: ChargeInput): Promise<ChargeResult> {
    const { priced } = input;
    return this.idempotent<ChargeResult, WalletRead>(
      {
        scope: input.workspaceId,
        key: input.idempotencyKey,
        operation: 'charge',
        requestHash: input.requestHash,
        now: input.now,
        readsAppended: false,
        pipelined: true,
      },
      async (tx, read) => {
        const { w, allocations, remember } = await this.draw(tx, input, read);
        await admitSpend(tx, { ...input, ...limitJob(priced), kind: 'spend' });
        const jobId = newId('job');
        tx.append(
          JOB_ROWS,
          jobParams({
            id: jobId,
            input,
            status: 'completed',
            captured: priced.credits,
            expiresAt: null,
            settledAt: input.now,
          }),
        );
        await w.entry({
          type: 'spend',
          amount: -priced.credits,
          availableDelta: -priced.credits,
          heldDelta: 0,
          jobId,
          ruleVersion: priced.ruleVersion,
          actor: input.actor,
          description: priced.description,
          lots: allocations.map((a) => ({ lotId: a.lotId, amount: -a.amount })),
          now: input.now,
        });
        const after = await w.save(input.now);
        remember();
        return {
          jobId,
          wallet: priced.wallet,
          credits: priced.credits,
          ruleVersion: priced.ruleVersion,
          balance: after.available,
          lots: allocations,
        };
      },
      (tx) => this.ltx(tx).readWalletAndLots(input.workspaceId, input.priced.wallet),
    );
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

  async expireHolds(input: { now: number; limit?: number }): Promise<number> {
    const due = await this.driver.read.all<{ id: string; workspaceId: string }>(
      `SELECT id, workspace_id AS "workspaceId" FROM jobs
       WHERE status = 'reserved' AND expires_at <= ? ORDER BY expires_at LIMIT ?`,
      [input.now, input.limit ?? 500],
    );
    const settled = await Promise.all(
      due.map((d) =>
        this.driver
          .write(async (tx) => {
            const row = await tx.get<JobRow>(`SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ?`, [
              d.id,
            ]);
            if (!row || row.status !== 'reserved') return 0;
            const job = toJob(row);
            job.held = Number(job.held);
            await this.settle(tx, job, {
              status: 'expired',
              captured: 0,
              now: input.now,
              actor: 'system:sweeper',
            });
            return 1;
          })
          .catch((e: unknown) => {
            if (e instanceof CreditsError && e.reason === 'HOLD_SETTLED') return 0;
            throw e;
          }),
      ),
    );
    return settled.reduce<number>((a, b) => a + b, 0);
  }

  async expireLots(input: { now: number; workspaceId?: string; limit?: number }): Promise<number> {
    const params: unknown[] = [input.now];
    let where = `expires_at <= ? AND expired_at IS NULL AND remaining > 0`;
    if (input.workspaceId) {
      where += ` AND workspace_id = ?`;
      params.push(input.workspaceId);
    }
    params.push(input.limit ?? 500);
    const due = await this.driver.read.all<{ workspaceId: string; wallet: WalletKind }>(
      `SELECT DISTINCT workspace_id AS "workspaceId", wallet FROM lots WHERE ${where} LIMIT ?`,
      params,
    );
    const counts = await Promise.all(
      due.map((d) =>
        this.driver.write(async (tx) => {
          const w = await this.ltx(tx).openWallet(d.workspaceId, d.wallet);
          const before = w.available;
          await this.ltx(tx).liveLots(w, input.now, 'system:sweeper');
          await w.save(input.now);
          return before - w.available;
        }),
      ),
    );
    return counts.reduce((a, b) => a + b, 0);
  }

  async pruneIdempotencyKeys(input: { before: number }): Promise<number> {
    return this.driver.write(async (tx) => {
      const r = await tx.run(`DELETE FROM idempotency_keys WHERE created_at < ?`, [input.before]);
      return r.changes;
    });
  }

  // ---------------------------------------------------------------- reads

  async wallets(workspaceId: string): Promise<WalletBalance[]> {
    const rows = await this.driver.read.all<WalletBalance>(
      `SELECT kind, available, held FROM wallets WHERE workspace_id = ?`,
      [workspaceId],
    );
    return rows.map((r) => ({
      kind: r.kind,
      available: Number(r.available),
      held: Number(r.held),
    }));
  }

  async lots(input: { workspaceId: string; wallet?: WalletKind }): Promise<Lot[]> {
    const params: unknown[] = [input.workspaceId];
    let where = 'workspace_id = ?';
    if (input.wallet) {
      where += ' AND wallet = ?';
      params.push(input.wallet);
    }
    const rows = await this.driver.read.all<Lot>(
      `SELECT ${LOT_COLUMNS} FROM lots WHERE ${where} ORDER BY created_at, id`,
      params,
    );
    return rows.map((r) => ({
      ...r,
      granted: Number(r.granted),
      remaining: Number(r.remaining),
      expiresAt: r.expiresAt === null ? null : Number(r.expiresAt),
      createdAt: Number(r.createdAt),
      expiredAt: r.expiredAt === null ? null : Number(r.expiredAt),
    }));
  }

  async hasDueLots(input: { workspaceId: string; now: number }): Promise<boolean> {
    const row = await this.driver.read.get(
      `SELECT id FROM lots WHERE workspace_id = ? AND expires_at <= ? AND expired_at IS NULL AND remaining > 0 LIMIT 1`,
      [input.workspaceId, input.now],
    );
    return row !== undefined;
  }

  async getJob(input: { workspaceId: string; jobId: string }): Promise<JobRecord | null> {
    const row = await this.driver.read.get<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE id = ? AND workspace_id = ?`,
      [input.jobId, input.workspaceId],
    );
    return row ? normaliseJob(toJob(row)) : null;
  }

  async history(q: HistoryQuery): Promise<Page<LedgerEntry>> {
    const where = ['workspace_id = ?'];
    const params: unknown[] = [q.workspaceId];
    if (q.wallet) {
      where.push('wallet = ?');
      params.push(q.wallet);
    }
    if (q.types && q.types.length > 0) {
      where.push(`type IN (${q.types.map(() => '?').join(', ')})`);
      params.push(...q.types);
    }
    if (q.from !== undefined) {
      where.push('created_at >= ?');
      params.push(q.from);
    }
    if (q.to !== undefined) {
      where.push('created_at < ?');
      params.push(q.to);
    }
    if (q.cursor) {
      const [id] = decodeCursor(q.cursor, ['number']);
      where.push('id < ?');
      params.push(id);
    }
    params.push(q.limit + 1);
    const rows = await this.driver.read.all<EntryRow>(
      `SELECT ${ENTRY_COLUMNS} FROM ledger_entries WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ?`,
      params,
    );
    const items = rows.slice(0, q.limit).map((r) => normaliseEntry(toEntry(r)));
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > q.limit && last ? encodeCursor([last.id]) : null };
  }

  async jobs(q: JobsQuery): Promise<Page<JobRecord>> {
    const where = ['workspace_id = ?'];
    const params: unknown[] = [q.workspaceId];
    if (q.wallet) {
      where.push('wallet = ?');
      params.push(q.wallet);
    }
    if (q.status) {
      where.push('status = ?');
      params.push(q.status);
    }
    if (q.cursor) {
      const [at, id] = decodeCursor(q.cursor, ['number', 'string']);
      where.push('(created_at < ? OR (created_at = ? AND id < ?))');
      params.push(at, at, id);
    }
    params.push(q.limit + 1);
    const rows = await this.driver.read.all<JobRow>(
      `SELECT ${JOB_COLUMNS} FROM jobs WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT ?`,
      params,
    );
    const items = rows.slice(0, q.limit).map((r) => normaliseJob(toJob(r)));
    const last = items[items.length - 1];
    return {
      items,
      nextCursor: rows.length > q.limit && last ? encodeCursor([last.createdAt, last.id]) : null,
    };
  }

  // ---------------------------------------------------------------- rules

  async activeRules(): Promise<RuleVersion | null> {
    const row = await this.driver.read.get<RuleRow>(ACTIVE_RULES_SQL);
    return row ? toRuleVersion(row) : null;
  }

  async ruleVersions(): Promise<Omit<RuleVersion, 'document'>[]> {
    const rows = await this.driver.read.all<Omit<RuleRow, 'document'>>(
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

  async getRuleVersion(version: number): Promise<RuleVersion | null> {
    const row = await this.driver.read.get<RuleRow>(
      `SELECT version, document, created_at AS "createdAt", created_by AS "createdBy", reason,
        rolled_back_from AS "rolledBackFrom" FROM rule_versions WHERE version = ?`,
      [version],
    );
    return row ? toRuleVersion(row) : null;
  }

  publishRules(input: PublishRulesInput): Promise<RuleVersion> {
    return this.driver.write(async (tx) => {
      // One publisher at a time: the rule_state row may not exist yet to lock (PostgreSQL;
      // SQLite's writer is exclusive already).
      if (this.driver.dialect === 'postgres') await tx.run('SELECT pg_advisory_xact_lock(7267127)');
      const current = await tx.get<RuleRow>(ACTIVE_RULES_SQL);
      if (current && input.onlyIfNone) return toRuleVersion(current);
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

  async ruleDraft(): Promise<{ document: unknown; updatedAt: number; updatedBy: string } | null> {
    const row = await this.driver.read.get<{
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

  saveRuleDraft(input: { document: unknown; updatedBy: string; now: number }): Promise<void> {
    return this.driver.write(async (tx) => {
      const r = await tx.run(
        `UPDATE rule_state SET draft = ?, draft_updated_at = ?, draft_updated_by = ? WHERE id = 1`,
        [JSON.stringify(input.document), input.now, input.updatedBy],
      );
      if (r.changes !== 1)
        throw new Error('no rule state: publish a first version before saving drafts');
    });
  }

  async recentJobs(input: {
    since: number;
    limit: number;
  }): Promise<(JobRecord & { plan: string; features: string[] })[]> {
    const rows = await this.driver.read.all<JobRow & { plan: string; features: string }>(
      `SELECT j.id, j.workspace_id AS "workspaceId", j.wallet, j.kind, j.job, j.status, j.held, j.captured,
        j.rule_version AS "ruleVersion", j.breakdown, j.trial_applies AS "trialApplies", j.actor,
        j.created_at AS "createdAt", j.expires_at AS "expiresAt", j.settled_at AS "settledAt",
        w.plan, w.features AS "features"
       FROM jobs j JOIN workspaces w ON w.id = j.workspace_id
       WHERE j.created_at >= ? ORDER BY j.created_at DESC, j.id DESC LIMIT ?`,
      [input.since, input.limit],
    );
    return rows.map((r) => ({
      ...normaliseJob(toJob(r)),
      plan: r.plan,
      features: JSON.parse(r.features) as string[],
    }));
  }

  // ---------------------------------------------------------------- verify

  verify(): Promise<VerifyReport> {
    return this.driver.snapshot((tx) => verifyLedger(tx));
  }
}

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

function normaliseJob(j: JobRecord): JobRecord {
  return {
    ...j,
    held: Number(j.held),
    captured: j.captured === null ? null : Number(j.captured),
    ruleVersion: j.ruleVersion === null ? null : Number(j.ruleVersion),
    createdAt: Number(j.createdAt),
    expiresAt: j.expiresAt === null ? null : Number(j.expiresAt),
    settledAt: j.settledAt === null ? null : Number(j.settledAt),
  };
}

function normaliseEntry(e: LedgerEntry): LedgerEntry {
  return {
    ...e,
    id: Number(e.id),
    amount: Number(e.amount),
    availableDelta: Number(e.availableDelta),
    heldDelta: Number(e.heldDelta),
    balanceAfter: Number(e.balanceAfter),
    heldAfter: Number(e.heldAfter),
    ruleVersion: e.ruleVersion === null ? null : Number(e.ruleVersion),
    createdAt: Number(e.createdAt),
  };
}

/** SPEC 13, in a handful of aggregate queries over one consistent snapshot. */
async function verifyLedger(tx: TxExecutor): Promise<VerifyReport> {
  const violations: InvariantViolation[] = [];
  const key = (ws: string, w: string) => `${ws}\u0000${w}`;
  const n = (v: unknown) => Number(v ?? 0);

  const wallets = await tx.all<{
    workspaceId: string;
    kind: string;
    available: number;
    held: number;
  }>(`SELECT workspace_id AS "workspaceId", kind, available, held FROM wallets`);
  const ledger = new Map(
    (
      await tx.all<Record<string, unknown> & { workspaceId: string; wallet: string }>(
        `SELECT workspace_id AS "workspaceId", wallet,
          SUM(available_delta) AS "avail", SUM(held_delta) AS "held",
          SUM(CASE WHEN type IN ('grant','purchase','trial') OR (type = 'adjustment' AND amount > 0) THEN amount ELSE 0 END) AS "granted",
          SUM(CASE WHEN type = 'spend' THEN -amount ELSE 0 END) AS "spent",
          SUM(CASE WHEN type = 'expire' THEN -amount ELSE 0 END) AS "expired",
          SUM(CASE WHEN type = 'refund' THEN -amount ELSE 0 END) AS "refunded",
          SUM(CASE WHEN type = 'adjustment' AND amount < 0 THEN -amount ELSE 0 END) AS "adjustedOut",
          COUNT(*) AS "entries"
         FROM ledger_entries GROUP BY workspace_id, wallet`,
      )
    ).map((r) => [key(r.workspaceId, r.wallet), r]),
  );
  const lots = new Map(
    (
      await tx.all<Record<string, unknown> & { workspaceId: string; wallet: string }>(
        `SELECT workspace_id AS "workspaceId", wallet, SUM(granted) AS "granted",
          SUM(remaining) AS "remaining", MIN(remaining) AS "minRemaining",
          SUM(CASE WHEN expired_at IS NULL THEN remaining ELSE 0 END) AS "live"
         FROM lots GROUP BY workspace_id, wallet`,
      )
    ).map((r) => [key(r.workspaceId, r.wallet), r]),
  );
  const holds = new Map(
    (
      await tx.all<{ workspaceId: string; wallet: string; held: number }>(
        `SELECT workspace_id AS "workspaceId", wallet, SUM(held) AS "held"
         FROM jobs WHERE status = 'reserved' GROUP BY workspace_id, wallet`,
      )
    ).map((r) => [key(r.workspaceId, r.wallet), r]),
  );
  let entries = 0;
  const workspaces = new Set<string>();
  for (const w of wallets) {
    workspaces.add(w.workspaceId);
    const k = key(w.workspaceId, w.kind);
    const l = ledger.get(k);
    const lot = lots.get(k);
    const available = n(w.available);
    const held = n(w.held);
    entries += n(l?.entries);
    const bad = (invariant: string, detail: string) =>
      violations.push({ workspaceId: w.workspaceId, wallet: w.kind, invariant, detail });
    if (available < 0 || held < 0)
      bad('1 no negative balance', `available ${available}, held ${held}`);
    if (lot && n(lot.minRemaining) < 0)
      bad('1 no negative lot', `a lot has ${n(lot.minRemaining)}`);
    if (available !== n(l?.avail) || held !== n(l?.held)) {
      bad(
        '2 balance equals ledger',
        `wallet ${available}+${held}, ledger ${n(l?.avail)}+${n(l?.held)}`,
      );
    }
    if (available !== n(lot?.remaining)) {
      bad('2 balance equals lots', `available ${available}, lots remaining ${n(lot?.remaining)}`);
    }
    if (available !== n(lot?.live)) {
      bad('2 balance equals live lots', `available ${available}, live lots ${n(lot?.live)}`);
    }
    if (held !== n(holds.get(k)?.held)) {
      bad('5 held equals open holds', `held ${held}, open holds ${n(holds.get(k)?.held)}`);
    }
    const granted = n(lot?.granted);
    const out = n(l?.spent) + n(l?.expired) + n(l?.refunded) + n(l?.adjustedOut);
    if (granted !== n(l?.granted) || granted !== available + held + out) {
      bad(
        '3 conservation',
        `lots granted ${granted}, ledger granted ${n(l?.granted)}, available+held+spent+expired+refunded+adjusted ${available + held + out}`,
      );
    }
  }
  const settledTwice = await tx.all<{
    workspaceId: string;
    wallet: string;
    jobId: string;
    total: number;
  }>(
    `SELECT j.workspace_id AS "workspaceId", j.wallet, j.id AS "jobId", SUM(e.held_delta) AS "total"
     FROM jobs j JOIN ledger_entries e ON e.job_id = j.id
     GROUP BY j.workspace_id, j.wallet, j.id, j.status, j.held
     HAVING SUM(e.held_delta) <> CASE WHEN j.status = 'reserved' THEN j.held ELSE 0 END`,
  );
  for (const s of settledTwice) {
    violations.push({
      workspaceId: s.workspaceId,
      wallet: s.wallet,
      invariant: '5 a hold settles at most once',
      detail: `job ${s.jobId} leaves ${n(s.total)} held`,
    });
  }
  // A lot that is over (expired, or closed by a refund of its order) holds nothing: credits
  // left in one are counted in the wallet yet can never be spent or expire.
  const stranded = await tx.all<{
    workspaceId: string;
    wallet: string;
    lotId: string;
    remaining: number;
    refunded: number;
  }>(
    `SELECT l.workspace_id AS "workspaceId", l.wallet, l.id AS "lotId", l.remaining,
       CASE WHEN o.status = 'refunded' THEN 1 ELSE 0 END AS "refunded"
     FROM lots l LEFT JOIN orders o ON o.lot_id = l.id
     WHERE l.remaining > 0 AND (l.expired_at IS NOT NULL OR o.status = 'refunded')
     ORDER BY l.id LIMIT 100`,
  );
  for (const s of stranded) {
    violations.push({
      workspaceId: s.workspaceId,
      wallet: s.wallet,
      invariant: '7 no credits in a dead lot',
      detail: `${n(s.refunded) ? 'refunded' : 'expired'} lot ${s.lotId} still holds ${n(s.remaining)}`,
    });
  }
  const unanswered = await tx.all<{ scope: string; key: string }>(
    `SELECT scope, key FROM idempotency_keys WHERE response IS NULL`,
  );
  for (const u of unanswered) {
    violations.push({
      workspaceId: u.scope,
      wallet: '-',
      invariant: '4 idempotency',
      detail: `key ${u.key} has no answer`,
    });
  }
  // The history reads in order: each entry's balances are the previous entry's plus its
  // deltas (the first, its own deltas), wallet by wallet in id order.
  const broken = await tx.all<{ workspaceId: string; wallet: string; id: number }>(
    `SELECT "workspaceId", wallet, id FROM (
       SELECT workspace_id AS "workspaceId", wallet, id, balance_after, held_after, available_delta, held_delta,
         LAG(balance_after, 1, 0) OVER (PARTITION BY workspace_id, wallet ORDER BY id) AS prev_available,
         LAG(held_after, 1, 0) OVER (PARTITION BY workspace_id, wallet ORDER BY id) AS prev_held
       FROM ledger_entries) e
     WHERE balance_after <> prev_available + available_delta OR held_after <> prev_held + held_delta
     ORDER BY id LIMIT 100`,
  );
  for (const b of broken) {
    violations.push({
      workspaceId: b.workspaceId,
      wallet: b.wallet,
      invariant: '2 entries chain in order',
      detail: `entry ${Number(b.id)} does not follow the one before it`,
    });
  }
  const cycles = await tx.all<{ workspaceId: string; wallet: string; cycleKey: string }>(
    `SELECT workspace_id AS "workspaceId", wallet, cycle_key AS "cycleKey" FROM lots
     WHERE cycle_key IS NOT NULL GROUP BY workspace_id, wallet, cycle_key HAVING COUNT(*) > 1`,
  );
  for (const c of cycles) {
    violations.push({
      workspaceId: c.workspaceId,
      wallet: c.wallet,
      invariant: '6 one allowance per cycle',
      detail: c.cycleKey,
    });
  }
  violations.push(...(await verifyCounters(tx)), ...(await verifyRefunds(tx)));
  return {
    ok: violations.length === 0,
    workspaces: workspaces.size,
    wallets: wallets.length,
    entries,
    violations,
  };
}
