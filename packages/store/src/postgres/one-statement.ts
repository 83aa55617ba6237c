import {
  type AppendedRows,
  type Coalesced,
  type Executor,
  type RowGroup,
  type TxExecutor,
} from '../executor.js';
import { groupBy, summedAdds, trackedExecutor } from '../tracked-executor.js';

/**
 * PostgreSQL's fast path for pipelined operations (reserve, charge): the operations waiting
 * while a statement is in flight are planned one after another on what this process
 * remembers of their wallets (or on fresh reads), and all their writes go to the database as
 * ONE data-modifying statement in autocommit: one round trip, the wallet rows locked only for
 * that statement. The statement carries its own checks — each wallet must reach exactly the
 * balances and version its operation expected, every row must go in or move — and fails
 * whole when one does not hold, so nothing of the group is written. Then (and for any other
 * failure, and for an operation that throws, refuses or needs a statement the single
 * statement cannot carry) each operation runs again alone as an ordinary transaction, where
 * its outcome is exact: callers only ever see the one-at-a-time outcome.
 *
 * One group is in flight at a time, so the group after it is planned on the balances this
 * one leaves and never races it for a wallet inside this process. Other processes are held
 * off by the wallet's version: any change to a wallet (or its lots) moves it.
 */
export class OneStatementWriter {
  private readonly waiting: Pending[] = [];
  private inFlight = false;
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
  ) {
    const plain = (sql: string) => sql.replace(/\s+FOR UPDATE\s*$/i, '');
    this.planReads = {
      all: (sql, params) => db.all(plain(sql), params),
      get: (sql, params) => db.get(plain(sql), params),
      run: (sql, params) => db.run(plain(sql), params),
    };
  }

  write<T>(op: (tx: TxExecutor) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({
        op,
        resolve: resolve as Pending['resolve'],
        reject,
      });
      this.pump();
    });
  }

  /** Operations waiting or in flight. */
  get queued(): number {
    return this.waiting.length;
  }

  private pump(): void {
    if (this.inFlight || this.waiting.length === 0) return;
    this.inFlight = true;
    const group = this.waiting.splice(0, MAX_GROUP);
    void this.run(group).finally(() => {
      this.inFlight = false;
      this.pump();
    });
  }

  private runAlone(p: Pending): void {
    this.alone(p.op).then(p.resolve, p.reject);
  }

  private async run(group: Pending[]): Promise<void> {
    // Wallets are remembered across groups (their version checks them), and so is that a
    // wallet has no spending limits (the statement checks it again); a wallet's limits only
    // while this group is planned.
    const others = new Map<string, unknown>();
    const planned: { p: Pending; value: unknown }[] = [];
    const writes: Coalesced = { inserts: [], adds: [] };
    const appended: AppendedRows = [];
    const relied = new Set<string>();
    for (const p of group) {
      const opRelied = new Set<string>();
      const memory = new RememberedWallets(this.cache, others, opRelied);
      const tracked = trackedExecutor(this.planReads, memory, true);
      let value: unknown;
      try {
        value = await p.op(tracked);
      } catch {
        // A refusal decided on remembered balances, or a read that failed: decide it again
        // alone, on what the database holds.
        this.runAlone(p);
        continue;
      }
      if (tracked.heldCount() > 0) {
        // A statement of its own (a lot past its time, an alert): not for the one statement.
        this.runAlone(p);
        continue;
      }
      // The next operation of the group plans on what this one leaves.
      tracked.keepCache();
      const c = tracked.takeCoalesced();
      writes.inserts.push(...c.inserts);
      writes.adds.push(...c.adds);
      appended.push(...tracked.takeAppended());
      for (const key of opRelied) relied.add(key);
      planned.push({ p, value });
    }
    if (planned.length === 0) return;
    const { sql, params } = oneStatement(writes, appended, [...relied].map(limitsWallet));
    try {
      await this.db.all(sql, params);
    } catch {
      // A key already taken, a wallet that moved, a lot short, a deadlock, a lost connection:
      // nothing of the group was written. Forget what was planned on, run each alone.
      this.cache.clear();
      for (const { p } of planned) this.runAlone(p);
      return;
    }
    this.counters.commits += 1;
    this.counters.writes += planned.length;
    for (const { p, value } of planned) p.resolve(value);
  }
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
  ) {
    super();
  }
  override get(key: string): unknown {
    if (key.startsWith(WALLET_KEY)) return this.wallets.get(key);
    if (key.startsWith(LIMITS_KEY) && this.relied) {
      const known = this.others?.get(key) ?? this.wallets.get(key);
      if (noLimits(known)) this.relied.add(key);
      return known;
    }
    return this.others?.get(key);
  }
  override has(key: string): boolean {
    if (key.startsWith(WALLET_KEY)) return this.wallets.has(key);
    if (key.startsWith(LIMITS_KEY) && this.relied)
      return (this.others?.has(key) ?? false) || this.wallets.has(key);
    return this.others?.has(key) ?? false;
  }
  override set(key: string, value: unknown): this {
    if (key.startsWith(WALLET_KEY)) this.wallets.set(key, value);
    else if (key.startsWith(LIMITS_KEY) && this.relied && noLimits(value)) {
      this.wallets.set(key, value);
      this.relied.add(key);
    } else this.others?.set(key, value);
    return this;
  }
  override delete(key: string): boolean {
    const others = !!this.others?.delete(key);
    return key.startsWith(WALLET_KEY) || key.startsWith(LIMITS_KEY)
      ? this.wallets.delete(key) || others
      : others;
  }
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
