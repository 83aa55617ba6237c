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
import { admitSpend, settleSpend } from './controls/enforce.js';
import { refundJobBody, type RefundJobInput, type RefundJobResult } from './controls/refunds.js';
import { migrationsFor } from './schema.js';
import * as reads from './reads.js';
import { JOB_COLUMNS, toJob, type JobRow } from './reads.js';
import * as rules from './rules-store.js';
import { verifyLedger } from './verify.js';
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
