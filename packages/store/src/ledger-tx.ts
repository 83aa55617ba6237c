import {
  CreditsError,
  walletStatus,
  type Allocation,
  type EntryType,
  type LotState,
  type WalletKind,
} from '@credits/domain';
import type { AddTarget, RowGroup, TxExecutor } from './executor.js';

/**
 * A wallet's balances, moved by deltas (see {@link TxExecutor.add}), and its version, moved by
 * one with every change: checked afterwards, it proves nothing else moved the wallet (or its
 * lots) since it was read or remembered, even if the balances came back to the same figures.
 */
const WALLET_BALANCES: AddTarget = {
  table: 'wallets',
  key: ['workspace_id', 'kind'],
  columns: ['available', 'held', 'version'],
};

/** What is left in a lot, moved by deltas. */
export const LOT_REMAINING: AddTarget = {
  table: 'lots',
  key: ['id'],
  columns: ['remaining'],
  lockRank: 1,
};

/** Ledger entries, appended (see {@link TxExecutor.append}): nothing reads them inside a money write. */
const ENTRY_ROWS: RowGroup = {
  head: `INSERT INTO ledger_entries (workspace_id, wallet, type, amount, available_delta, held_delta,
    balance_after, held_after, job_id, order_id, rule_version, actor, description, lots, created_at) VALUES`,
  columns: 15,
};

/** What the store remembers of a wallet after a spend: balances and live lots. */
interface RememberedWallet {
  available: number;
  held: number;
  version: number;
  lots: LotState[];
}

/** A lot row with its numbers as numbers (PostgreSQL's BIGINTs may arrive as text). */
function lotState(raw: LotState): LotState {
  return {
    ...raw,
    remaining: Number(raw.remaining),
    expiresAt: raw.expiresAt === null ? null : Number(raw.expiresAt),
    createdAt: Number(raw.createdAt),
  };
}

function walletKey(workspaceId: string, wallet: WalletKind): string {
  return `wallet\u0000${workspaceId}\u0000${wallet}`;
}

/** A wallet row and its live lot rows, as read before any write. */
export interface WalletRead {
  w: WalletMove;
  rows: LotState[];
}

/** What alerts need to know of a wallet kind: its label, threshold and availability. */
export type CatalogView = (kind: WalletKind) => {
  label: string;
  lowThreshold: number;
  available: boolean;
};

export interface WalletState {
  available: number;
  held: number;
}

/** A wallet as read or remembered: its balances and its version (see WALLET_BALANCES). */
interface WalletRow extends WalletState {
  version: number;
}

/** Running state of one wallet inside one operation: entries are written as it moves. */
export class WalletMove {
  available: number;
  held: number;
  /** The wallet's version once this operation has saved it. */
  version: number;
  private readonly start: WalletRow;
  constructor(
    private readonly tx: TxExecutor,
    readonly workspaceId: string,
    readonly wallet: WalletKind,
    state: WalletRow,
    private readonly catalog: CatalogView,
  ) {
    this.start = { ...state };
    this.available = state.available;
    this.held = state.held;
    this.version = state.version;
  }

  async entry(e: {
    type: EntryType;
    amount: number;
    availableDelta: number;
    heldDelta: number;
    jobId?: string | null;
    orderId?: string | null;
    ruleVersion?: number | null;
    actor: string;
    description: string;
    lots: Allocation[];
    now: number;
  }): Promise<void> {
    this.available += e.availableDelta;
    this.held += e.heldDelta;
    if (this.available < 0 || this.held < 0) {
      throw new Error(`ledger bug: ${this.workspaceId}/${this.wallet} would go below zero`);
    }
    // Appended: written with the batch, in order, many to a statement.
    this.tx.append(ENTRY_ROWS, [
      this.workspaceId,
      this.wallet,
      e.type,
      e.amount,
      e.availableDelta,
      e.heldDelta,
      this.available,
      this.held,
      e.jobId ?? null,
      e.orderId ?? null,
      e.ruleVersion ?? null,
      e.actor,
      e.description,
      JSON.stringify(e.lots),
      e.now,
    ]);
  }

  /**
   * Write the wallet's new balances (the row must not have moved under us) and, when the
   * available balance crosses into `low` or `empty`, record one notification: a crossing
   * happens in exactly one operation, so it is recorded exactly once.
   */
  async save(now?: number): Promise<WalletState> {
    const da = this.available - this.start.available;
    const dh = this.held - this.start.held;
    if (da === 0 && dh === 0) return { available: this.available, held: this.held };
    // Checked: the wallet must hold exactly these balances and the next version afterwards
    // (a wallet that moved under this operation fails it, and the store forgets what it
    // remembered).
    this.version = this.start.version + 1;
    this.tx.add(
      WALLET_BALANCES,
      [this.workspaceId, this.wallet],
      [da, dh, 1],
      [this.available, this.held, this.version],
    );
    if (now !== undefined && da < 0) this.alertOnCrossing(now);
    return { available: this.available, held: this.held };
  }

  private alertOnCrossing(now: number): void {
    const entry = this.catalog(this.wallet);
    const before = walletStatus({
      balance: this.start.available,
      lowThreshold: entry.lowThreshold,
      available: entry.available,
    });
    const after = walletStatus({
      balance: this.available,
      lowThreshold: entry.lowThreshold,
      available: entry.available,
    });
    if (after === before || (after !== 'low' && after !== 'empty')) return;
    const message =
      after === 'empty'
        ? `${entry.label} are empty.`
        : `${entry.label} are low: ${this.available.toLocaleString('en-US')} left.`;
    this.tx.write(
      `INSERT INTO notifications (workspace_id, wallet, kind, balance, message, created_at, delivery, next_attempt_at)
       SELECT id, ?, ?, ?, ?, ?, CASE WHEN alert_webhook_url IS NULL THEN 'none' ELSE 'pending' END, ?
       FROM workspaces WHERE id = ?`,
      [this.wallet, after, this.available, message, now, now, this.workspaceId],
    );
  }
}

/**
 * The building blocks every money movement shares, inside one transaction: lock and read a
 * wallet, expire its lots past their time, plan and draw a spend.
 */
export class LedgerTx {
  constructor(
    readonly tx: TxExecutor,
    private readonly lockRows: string,
    private readonly catalog: CatalogView,
  ) {}

  /**
   * Lock the wallet row (PostgreSQL) and read it; the workspace must exist. Whoever opens a
   * wallet this way may change it and its lots any way it likes, so the store forgets what
   * it remembered of them (see {@link readWalletAndLots}).
   */
  async openWallet(workspaceId: string, wallet: WalletKind): Promise<WalletMove> {
    this.tx.forget(walletKey(workspaceId, wallet));
    const row = await this.tx.get<WalletRow>(
      `SELECT available, held, version FROM wallets WHERE workspace_id = ? AND kind = ? ${this.lockRows}`,
      [workspaceId, wallet],
    );
    if (!row) {
      const ws = await this.tx.get(`SELECT id FROM workspaces WHERE id = ?`, [workspaceId]);
      if (!ws) throw new CreditsError('WORKSPACE_NOT_FOUND', 'No such workspace.', { workspaceId });
      throw new CreditsError('NOT_FOUND', `This workspace has no ${wallet} wallet.`, { wallet });
    }
    return new WalletMove(
      this.tx,
      workspaceId,
      wallet,
      { available: Number(row.available), held: Number(row.held), version: Number(row.version) },
      this.catalog,
    );
  }

  /**
   * The wallet's live lots, after expiring the ones past their time (each once: the update
   * only matches a lot not yet expired). Returns the lots that are still live.
   */
  private selectLots(workspaceId: string, wallet: WalletKind): Promise<LotState[]> {
    return this.tx.all<LotState>(
      `SELECT id, source, remaining, expires_at AS "expiresAt", restriction, created_at AS "createdAt"
       FROM lots WHERE workspace_id = ? AND wallet = ? AND remaining > 0 AND expired_at IS NULL
       ORDER BY created_at ${this.lockRows}`,
      [workspaceId, wallet],
    );
  }

  /**
   * The wallet row and its live lot rows, read together: reads only, nothing written (one
   * round trip less; on PostgreSQL the client sends the wallet's lock first, so the lock order
   * stays wallet, then lots). When the store remembers both as the last operation on this
   * wallet left them ({@link remember}) and this operation may plan on that, nothing is read
   * (an operation run on its own always reads, so a refusal is decided on the database).
   */
  async readWalletAndLots(workspaceId: string, wallet: WalletKind): Promise<WalletRead> {
    const known = this.tx.recall<RememberedWallet>(walletKey(workspaceId, wallet));
    if (known) {
      return {
        w: new WalletMove(
          this.tx,
          workspaceId,
          wallet,
          { available: known.available, held: known.held, version: known.version },
          this.catalog,
        ),
        rows: known.lots.map((l) => ({ ...l })),
      };
    }
    const [opened, rows] = await Promise.allSettled([
      this.openWallet(workspaceId, wallet),
      this.selectLots(workspaceId, wallet),
    ]);
    if (opened.status === 'rejected') throw opened.reason;
    if (rows.status === 'rejected') throw rows.reason;
    return { w: opened.value, rows: rows.value };
  }

  /**
   * The wallet and its live lots, read together (one round trip less; on PostgreSQL the
   * client sends the wallet's lock first, so the lock order stays wallet, then lots), then
   * lots past their time expired. `read` may be a read already started (see `idempotent`).
   */
  async openWalletWithLots(
    workspaceId: string,
    wallet: WalletKind,
    now: number,
    actor: string,
    read?: Promise<WalletRead>,
  ): Promise<{ w: WalletMove; lots: LotState[] }> {
    const { w, rows } = await (read ?? this.readWalletAndLots(workspaceId, wallet));
    return { w, lots: await this.liveLots(w, now, actor, rows) };
  }

  async liveLots(
    w: WalletMove,
    now: number,
    actor: string,
    prefetched?: LotState[],
  ): Promise<(LotState & { expiresAt: number | null })[]> {
    const rows = prefetched ?? (await this.selectLots(w.workspaceId, w.wallet));
    const live: LotState[] = [];
    for (const raw of rows) {
      const lot = lotState(raw);
      if (lot.expiresAt !== null && lot.expiresAt <= now) {
        // Once: only a lot not yet expired is marked; its remainder goes by a checked
        // addition (to exactly 0, with every other move of the lot committed beside it).
        this.tx.write(
          `UPDATE lots SET expired_at = ? WHERE id = ? AND expired_at IS NULL`,
          [now, lot.id],
          1,
        );
        this.tx.add(LOT_REMAINING, [lot.id], [-lot.remaining], [0]);
        await w.entry({
          type: 'expire',
          amount: -lot.remaining,
          availableDelta: -lot.remaining,
          heldDelta: 0,
          actor,
          description: `${lot.source.replace('_', ' ')} credits expired`,
          lots: [{ lotId: lot.id, amount: -lot.remaining }],
          now,
        });
      } else {
        live.push(lot);
      }
    }
    return live;
  }

  /**
   * After a spend that read the wallet through {@link readWalletAndLots}: remember the wallet
   * as this operation leaves it (its balances, and its live lots less what was drawn), for
   * the next spend on it. Kept only if the operation succeeds.
   */
  remember(w: WalletMove, live: readonly LotState[], drawn: readonly Allocation[]): void {
    const taken = new Map(drawn.map((a) => [a.lotId, a.amount]));
    const lots = live
      .map((l) => ({ ...l, remaining: l.remaining - (taken.get(l.id) ?? 0) }))
      .filter((l) => l.remaining > 0);
    const state: RememberedWallet = {
      available: w.available,
      held: w.held,
      version: w.version,
      lots,
    };
    this.tx.remember(walletKey(w.workspaceId, w.wallet), state);
  }

  /**
   * After a settlement that read the wallet through {@link readWalletAndLots}: remember the
   * wallet as it leaves it, with the returned credits back in their lots (`returned`: each
   * lot with `remaining` = what went back to it). Kept only if the operation succeeds.
   */
  rememberReturned(w: WalletMove, live: readonly LotState[], returned: readonly LotState[]): void {
    const lots = live.map((l) => ({ ...lotState(l) }));
    for (const r of returned) {
      const known = lots.find((l) => l.id === r.id);
      // A lot not among the live ones with credits had none left: it holds what came back.
      if (known) known.remaining += r.remaining;
      else lots.push({ ...r });
    }
    lots.sort((a, b) => a.createdAt - b.createdAt);
    const state: RememberedWallet = {
      available: w.available,
      held: w.held,
      version: w.version,
      lots,
    };
    this.tx.remember(walletKey(w.workspaceId, w.wallet), state);
  }

  /** Take allocations out of their lots (the spend path, money/spend.ts, plans them). */
  async drawLots(allocations: Allocation[]): Promise<void> {
    for (const a of allocations) {
      // The lot's CHECK (remaining >= 0) refuses a draw larger than what is left.
      this.tx.add(LOT_REMAINING, [a.lotId], [-a.amount]);
    }
  }
}
