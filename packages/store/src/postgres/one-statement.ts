import {
  type AppendedRows,
  type Coalesced,
  type Executor,
  type RowGroup,
  type TxExecutor,
} from '../executor.js';
import { groupBy, summedAdds, trackedExecutor } from '../tracked-executor.js';

/**
 * PostgreSQL's fast path for pipelined operations (reserve, charge): each operation is planned
 * as soon as it arrives, on what this process remembers of its wallet (or on a fresh read),
 * and the operations planned while a statement is in flight go to the database together as
 * ONE data-modifying statement in autocommit: one round trip, the wallet rows locked only for
 * that statement. The statement carries its own checks — each wallet must reach exactly the
 * balances and version its operations expected, every row must go in or move — and fails
 * whole when one does not hold, so nothing of the group is written. Then (and for any other
 * failure, and for an operation that throws, refuses or needs a statement the single
 * statement cannot carry) each operation runs again alone as an ordinary transaction, where
 * its outcome is exact: callers only ever see the one-at-a-time outcome.
 *
 * Wallets are split into lanes by a hash of their key (one lane unless the driver is given
 * `statementsInFlight`), and each lane has at most one statement in flight: lanes never share a wallet, so their statements never wait for each
 * other's row locks (nor deadlock on them) and run side by side. Within a lane, the group
 * after the one in flight is planned on the balances that one leaves but sent only once it
 * has committed, so a statement is only ever planned on committed state or on its own
 * earlier operations: a version the statement expects names exactly one state of the
 * wallet. If the statement in flight fails, what its lane remembers is forgotten and the
 * group planned on it is planned again. Other processes (and ordinary transactions here) are
 * held off by the wallet's version: any change to a wallet (or its lots) moves it.
 */
export class OneStatementWriter {
  /** Operations not planned yet, in the order they came. */
  private readonly waiting: Pending[] = [];
  private readonly lanes: Lane[];
  /** True while operations are being planned (one at a time: each plans on the one before). */
  private planning = false;
  private inFlight = 0;
  /** Most statements that were in flight at once so far (for tests and diagnostics). */
  peakInFlight = 0;
  /**
   * Reads while planning take no lock (`FOR UPDATE` dropped): they wait for nobody, and the
   * statement's expectations check what they read.
   */
  private readonly planReads: Executor;

  constructor(
    private readonly db: Executor,
    /** What the writer remembers of wallets (shared with ordinary transactions, which forget). */
    private readonly cache: Map<string, unknown>,
    /** Run one operation alone, as an ordinary transaction. */
    private readonly alone: <T>(op: (tx: TxExecutor) => Promise<T>) => Promise<T>,
    private readonly counters: { writes: number; commits: number },
    /** Statements in flight at most (one per lane of wallets); 1: one at a time. */
    lanes = 1,
  ) {
    const plain = (sql: string) => sql.replace(/\s+FOR UPDATE\s*$/i, '');
    this.planReads = {
      all: (sql, params) => db.all(plain(sql), params),
      get: (sql, params) => db.get(plain(sql), params),
      run: (sql, params) => db.run(plain(sql), params),
    };
    this.lanes = Array.from({ length: Math.max(1, Math.floor(lanes)) }, () => ({
      inFlight: false,
      pending: [],
      epoch: 0,
    }));
  }

  write<T>(op: (tx: TxExecutor) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({
        op,
        resolve: resolve as Pending['resolve'],
        reject,
      });
      this.plan();
    });
  }

  /** Operations waiting for a statement (planned or not), not those in flight. */
  get queued(): number {
    let n = this.waiting.length;
    for (const lane of this.lanes) for (const g of lane.pending) n += g.planned.length;
    return n;
  }

  /** Plan what waits (unless planning already), then send what can go. */
  private plan(): void {
    if (this.planning || this.waiting.length === 0) return;
    this.planning = true;
    void this.planWaiting().finally(() => {
      this.planning = false;
      this.send();
      this.plan();
    });
  }

  /** The operations waiting now, each planned on what the one before it leaves. */
  private async planWaiting(): Promise<void> {
    // Anything else an operation remembers (a wallet's spending limits) is kept only while
    // these are planned.
    const others = new Map<string, unknown>();
    for (let n = this.waiting.length; n > 0 && this.waiting.length > 0; n--) {
      await this.planOne(this.waiting.shift()!, others);
    }
  }

  private async planOne(p: Pending, others: Map<string, unknown>): Promise<void> {
    for (;;) {
      const epochs = this.lanes.map((l) => l.epoch);
      const relied = new Set<string>();
      const touched = new Set<number>();
      const memory = new RememberedWallets(this.cache, others, relied, (wallet) =>
        touched.add(this.laneOf(wallet)),
      );
      const tracked = trackedExecutor(this.planReads, memory, true);
      let value: unknown;
      try {
        value = await p.op(tracked);
      } catch {
        // A refusal decided on remembered balances, or a read that failed: decide it again
        // alone, on what the database holds.
        this.runAlone(p);
        return;
      }
      const c = tracked.takeCoalesced();
      for (const a of c.adds) {
        if (a.target.table === 'wallets') touched.add(this.laneOf(a.key.join('\u0000')));
      }
      if (tracked.heldCount() > 0 || touched.size > 1) {
        // A statement of its own (a lot past its time, an alert), or wallets of two lanes:
        // not for the one statement.
        this.runAlone(p);
        return;
      }
      const laneNo = touched.size === 1 ? [...touched][0]! : 0;
      const lane = this.lanes[laneNo]!;
      if (lane.epoch !== epochs[laneNo]) {
        // The lane's statement failed while this was planned, maybe on what it would have
        // left: forget this plan (nothing of it was kept) and plan again.
        continue;
      }
      // The next operation plans on what this one leaves.
      tracked.keepCache();
      let g = lane.pending.at(-1);
      if (!g || g.planned.length >= MAX_GROUP) lane.pending.push((g = newGroup()));
      g.writes.inserts.push(...c.inserts);
      g.writes.adds.push(...c.adds);
      g.appended.push(...tracked.takeAppended());
      for (const key of relied) g.relied.add(key);
      g.planned.push({ p, value });
      return;
    }
  }

  /** Each lane with nothing in flight sends its next group. */
  private send(): void {
    for (const lane of this.lanes) {
      if (lane.inFlight || lane.pending.length === 0) continue;
      const g = lane.pending.shift()!;
      lane.inFlight = true;
      this.inFlight += 1;
      this.peakInFlight = Math.max(this.peakInFlight, this.inFlight);
      void this.execute(lane, g).finally(() => {
        lane.inFlight = false;
        this.inFlight -= 1;
        this.send();
        this.plan();
      });
    }
  }

  private runAlone(p: Pending): void {
    this.alone(p.op).then(p.resolve, p.reject);
  }

  private async execute(lane: Lane, g: Group): Promise<void> {
    const { sql, params } = oneStatement(g.writes, g.appended, [...g.relied].map(limitsWallet));
    try {
      await this.db.all(sql, params);
    } catch {
      // A key already taken, a wallet that moved, a lot short, a deadlock, a lost connection:
      // nothing of the group was written. Forget what the lane remembers (it was planned on
      // this), plan again what was planned after it, and run each of this group alone.
      this.forgetLane(lane);
      for (const { p } of g.planned) this.runAlone(p);
      return;
    }
    this.counters.commits += 1;
    this.counters.writes += g.planned.length;
    for (const { p, value } of g.planned) p.resolve(value);
  }

  private forgetLane(lane: Lane): void {
    lane.epoch += 1;
    const n = this.lanes.indexOf(lane);
    for (const key of [...this.cache.keys()]) {
      const wallet = rememberedWallet(key);
      if (wallet !== null && this.laneOf(wallet) === n) this.cache.delete(key);
    }
    const again = lane.pending.flatMap((g) => g.planned.map((x) => x.p));
    lane.pending = [];
    this.waiting.unshift(...again);
  }

  /** The lane of a wallet (`workspaceId\0kind`). */
  private laneOf(wallet: string): number {
    if (this.lanes.length === 1) return 0;
    // FNV-1a: any stable spread will do.
    let h = 0x811c9dc5;
    for (let i = 0; i < wallet.length; i++) h = Math.imul(h ^ wallet.charCodeAt(i), 0x01000193);
    return (h >>> 0) % this.lanes.length;
  }
}

/** One statement's worth of planned operations. */
interface Group {
  planned: { p: Pending; value: unknown }[];
  writes: Coalesced;
  appended: AppendedRows;
  /** Limits keys whose "none" the group planned on (see {@link RememberedWallets}). */
  relied: Set<string>;
}

function newGroup(): Group {
  return { planned: [], writes: { inserts: [], adds: [] }, appended: [], relied: new Set() };
}

/** A share of the wallets: at most one statement in flight, groups planned after it waiting. */
interface Lane {
  inFlight: boolean;
  pending: Group[];
  /** Moves when the lane's statement fails: plans begun before are planned again. */
  epoch: number;
}

/** Keys of what `ledger-tx.ts` remembers of a wallet. */
const WALLET_KEY = 'wallet\u0000';
/** Keys of what `controls/enforce.ts` remembers of a wallet's spending limits: `limits\0ws\0wallet`. */
const LIMITS_KEY = 'limits\u0000';

/** A wallet's limits as `controls/enforce.ts` remembers them; `value` null: it has none. */
function noLimits(value: unknown): boolean {
  return (value as { value?: unknown } | undefined)?.value === null;
}

/**
 * The cache PostgreSQL's operations see. Wallets go to the process-wide map (a write on a
 * remembered wallet checks its version). That a wallet has no spending limits goes there too,
 * for pipelined operations only: each one statement that relies on it checks it again
 * (`relied`, see {@link oneStatement}), so nothing is read for it while planning. Anything
 * else (a wallet's limits) goes to `others` (null: not kept at all), because nothing checks
 * it against what another process changed. Ordinary transactions (`relied` null) never see a
 * remembered fact about limits: they read them, with the wallet locked.
 */
export class RememberedWallets extends Map<string, unknown> {
  constructor(
    private readonly wallets: Map<string, unknown>,
    private readonly others: Map<string, unknown> | null,
    /** Pipelined planning: the limits keys whose "none" the operation relied on. */
    private readonly relied: Set<string> | null = null,
    /** Told of every wallet (`workspaceId\0kind`) the operation looks up, keeps or forgets. */
    private readonly onWallet?: (wallet: string) => void,
  ) {
    super();
  }
  private about(key: string): void {
    const wallet = this.onWallet ? rememberedWallet(key) : null;
    if (wallet !== null) this.onWallet!(wallet);
  }
  override get(key: string): unknown {
    this.about(key);
    if (key.startsWith(WALLET_KEY)) return this.wallets.get(key);
    if (key.startsWith(LIMITS_KEY) && this.relied) {
      const known = this.others?.get(key) ?? this.wallets.get(key);
      if (noLimits(known)) this.relied.add(key);
      return known;
    }
    return this.others?.get(key);
  }
  override has(key: string): boolean {
    this.about(key);
    if (key.startsWith(WALLET_KEY)) return this.wallets.has(key);
    if (key.startsWith(LIMITS_KEY) && this.relied)
      return (this.others?.has(key) ?? false) || this.wallets.has(key);
    return this.others?.has(key) ?? false;
  }
  override set(key: string, value: unknown): this {
    this.about(key);
    if (key.startsWith(WALLET_KEY)) this.wallets.set(key, value);
    else if (key.startsWith(LIMITS_KEY) && this.relied && noLimits(value)) {
      this.wallets.set(key, value);
      this.relied.add(key);
    } else this.others?.set(key, value);
    return this;
  }
  override delete(key: string): boolean {
    this.about(key);
    const others = !!this.others?.delete(key);
    return key.startsWith(WALLET_KEY) || key.startsWith(LIMITS_KEY)
      ? this.wallets.delete(key) || others
      : others;
  }
}

/** The wallet (`workspaceId\0kind`) a key the writer remembers is about, or null. */
function rememberedWallet(key: string): string | null {
  if (key.startsWith(WALLET_KEY)) return key.slice(WALLET_KEY.length);
  if (key.startsWith(LIMITS_KEY)) return key.slice(LIMITS_KEY.length);
  return null;
}

/** The wallet (`[workspaceId, wallet]`) a limits key of `controls/enforce.ts` names. */
function limitsWallet(key: string): [string, string] {
  const [, workspaceId, wallet] = key.split('\u0000');
  return [workspaceId!, wallet!];
}

interface Pending {
  op: (tx: TxExecutor) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

/** Most operations in one statement (a charge binds about 45 values; PostgreSQL allows 65,535). */
const MAX_GROUP = 256;

/** A value bound for a VALUES list, typed (VALUES has no target column to take a type from). */
function typed(v: unknown): string {
  return typeof v === 'number' ? '?::bigint' : '?::text';
}

/**
 * The group's writes as one statement: a `WITH` sub-statement per kind of row inserted and
 * per table moved, then a SELECT that divides by zero unless every row went in and every
 * moved row met its expectation, so a failed check fails the whole statement (SQLSTATE
 * 22012) and autocommit rolls all of it back. Each table is written by one sub-statement
 * (CockroachDB refuses two writes to a table in one statement); rows appended go in the
 * order they came, so ledger entries keep their order.
 */
export function oneStatement(
  writes: Coalesced,
  appended: AppendedRows,
  /** Wallets (`[workspaceId, wallet]`) the group planned on as having no spending limits. */
  withoutLimits: readonly (readonly [string, string])[] = [],
): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  const expected: { name: string; rows: number }[] = [];
  const name = () => `w${parts.length}`;

  const inserts: { rows: RowGroup; params: readonly unknown[] }[] = [
    ...writes.inserts,
    ...appended,
  ];
  for (const [group, rows] of groupBy(
    inserts,
    (i) => i.rows,
    (i) => i.params,
  )) {
    const one = `(${Array.from({ length: group.columns }, () => '?').join(', ')})`;
    const n = name();
    parts.push(
      `${n} AS (${group.head} ${rows.map(() => one).join(', ')}${group.tail ? ` ${group.tail}` : ''} RETURNING 1)`,
    );
    params.push(...rows.flat());
    expected.push({ name: n, rows: rows.length });
  }

  // Targets in lock order (wallets, then lots): each waits for the one before it to have
  // moved all its rows, so this statement locks rows in the order every transaction does.
  const targets = [...summedAdds(writes.adds)].sort(
    ([a], [b]) => (a.lockRank ?? 0) - (b.lockRank ?? 0),
  );
  let before: { name: string; rows: number } | null = null;
  for (const [target, rows] of targets) {
    const k = target.key.length;
    const c = target.columns.length;
    // Rows without an expectation are matched on their key alone (a NULL expectation).
    const width = k + 2 * c;
    const values = rows.map((r) => {
      params.push(...r.key, ...r.deltas, ...(r.after ?? target.columns.map(() => null)));
      return `(${[...r.key.map(typed), ...r.deltas.map(() => '?::bigint'), ...target.columns.map(() => '?::bigint')].join(', ')})`;
    });
    const cols = Array.from({ length: width }, (_, i) => `c${i}`);
    const t = target.table;
    const n = name();
    parts.push(
      `${n} AS (UPDATE ${t} SET ${target.columns.map((col, j) => `${col} = ${t}.${col} + v.c${k + j}`).join(', ')}
        FROM (VALUES ${values.join(', ')}) AS v (${cols.join(', ')})
        WHERE ${target.key.map((key, j) => `${t}.${key} = v.c${j}`).join(' AND ')}
          AND ${target.columns.map((col, j) => `(v.c${k + c + j} IS NULL OR ${t}.${col} + v.c${k + j} = v.c${k + c + j})`).join(' AND ')}
          ${before ? `AND (SELECT count(*) FROM ${before.name}) = ${before.rows}` : ''}
        RETURNING 1)`,
    );
    before = { name: n, rows: rows.length };
    expected.push(before);
  }

  const checks = expected.map((e) => `(SELECT count(*) FROM ${e.name}) = ${e.rows}`);
  if (withoutLimits.length > 0) {
    // Planned without reading the wallets' limits (remembered as none): still none.
    checks.push(
      `NOT EXISTS (SELECT 1 FROM spend_limits WHERE (workspace_id, wallet) IN (${withoutLimits.map(() => '(?::text, ?::text)').join(', ')}))`,
    );
    for (const w of withoutLimits) params.push(...w);
  }
  return {
    sql: `WITH ${parts.join(',\n')}
      SELECT 1 / (CASE WHEN ${checks.join(' AND ') || 'true'} THEN 1 ELSE 0 END) AS ok`,
    params,
  };
}
