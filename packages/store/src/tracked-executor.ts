import {
  NeedsOwnRun,
  StaleRead,
  type AddTarget,
  type AppendedRows,
  type Coalesced,
  type Executor,
  type KeyClaim,
  type KeyRow,
  type OpCache,
  type RowGroup,
  type TxExecutor,
} from './executor.js';

/**
 * The adapters' shared mechanics behind the {@link TxExecutor} contract (`executor.ts`): the
 * executor that tracks what an operation deferred, inserted, appended and added
 * ({@link trackedExecutor}), and how those go out — coalesced into multi-row statements
 * ({@link sendCoalesced}, {@link summedAdds}) and appended rows flushed before commit
 * ({@link flushAppended}). No money rule lives here.
 */

/** Items by a key, in the order they came (keys in the order first seen). */
export function groupBy<K, T, V>(
  items: readonly T[],
  key: (item: T) => K,
  value: (item: T) => V,
): Map<K, V[]> {
  const out = new Map<K, V[]>();
  for (const item of items) {
    const k = key(item);
    let list = out.get(k);
    if (!list) out.set(k, (list = []));
    list.push(value(item));
  }
  return out;
}

/** Claim an idempotency key: one row back when this operation has it, none when taken. */
const CLAIM_KEY = `INSERT INTO idempotency_keys (scope, key, operation, request_hash, created_at)
  VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING 1 AS claimed`;

/** A key claimed with its answer at once (grouped: the operation has already run). */
const KEY_WITH_ANSWER: RowGroup = {
  head: `INSERT INTO idempotency_keys (scope, key, operation, request_hash, created_at, response) VALUES`,
  columns: 6,
};

/** A key's stored answer, written with the batch (the key itself was claimed first). */
const KEY_ANSWERS: RowGroup = {
  head: `INSERT INTO idempotency_keys (scope, key, operation, request_hash, created_at, response) VALUES`,
  columns: 6,
  tail: `ON CONFLICT (scope, key) DO UPDATE SET response = excluded.response`,
};

/** `(?, ?, …)` for one row of `n` values. */
function placeholders(n: number): string {
  return `(${Array.from({ length: n }, () => '?').join(', ')})`;
}

/** Most rows in one multi-row statement (and so the most distinct statement texts per kind). */
const ROWS_PER_STATEMENT = 64;

/** Rows in chunks of at most {@link ROWS_PER_STATEMENT}, in order. */
function chunks<T>(rows: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT)
    out.push(rows.slice(i, i + ROWS_PER_STATEMENT));
  return out;
}

/** One INSERT of these rows of a {@link RowGroup}. */
function insertRows(
  group: RowGroup,
  rows: readonly (readonly unknown[])[],
): { sql: string; params: unknown[] } {
  const one = placeholders(group.columns);
  return {
    sql: `${group.head} ${rows.map(() => one).join(', ')}${group.tail ? ` ${group.tail}` : ''}`,
    params: rows.flat(),
  };
}

/** The row a checked addition returned must hold the values given as `after`. */
function checkAfter(
  target: AddTarget,
  key: readonly unknown[],
  row: Record<string, unknown> | undefined,
  after?: readonly number[],
): void {
  if (!row) throw new Error(`ledger bug: no ${target.table} row ${key.join('/')}`);
  if (after && target.columns.some((c, i) => Number(row[c]) !== after[i])) {
    throw new Error(`ledger bug: ${target.table} row ${key.join('/')} moved during a write`);
  }
}

/** One addition now: `UPDATE t SET c = c + ? … WHERE k = ? … RETURNING c …`, checked. */
function addOne(ex: Executor, a: Coalesced['adds'][number]): Promise<void> {
  const { target } = a;
  const sql = `UPDATE ${target.table} SET ${target.columns.map((c) => `${c} = ${c} + ?`).join(', ')}
    WHERE ${target.key.map((k) => `${k} = ?`).join(' AND ')} RETURNING ${target.columns.join(', ')}`;
  return ex.all<Record<string, unknown>>(sql, [...a.deltas, ...a.key]).then((rows) => {
    if (rows.length > 1)
      throw new Error(`ledger bug: ${rows.length} ${target.table} rows for ${a.key.join('/')}`);
    checkAfter(target, a.key, rows[0], a.after);
  });
}

/**
 * Send a pipelined group's inserts and additions: per RowGroup, multi-row INSERTs; per
 * AddTarget, the deltas for each row summed and all rows moved by `UPDATE … FROM (VALUES …)`
 * (SQLite; its VALUES columns are column1, column2, …). Returns the statements' promises,
 * each rejecting when its rows did not all go in or move as expected.
 */
export function sendCoalesced(ex: Executor, c: Coalesced): Promise<unknown>[] {
  const out: Promise<unknown>[] = [];
  for (const [group, rows] of groupBy(
    c.inserts,
    (i) => i.rows,
    (i) => i.params,
  )) {
    for (const chunk of chunks(rows)) {
      const { sql, params } = insertRows(group, chunk);
      out.push(
        ex.run(sql, params).then((r) => {
          if (r.changes !== chunk.length)
            throw new Error(
              `${chunk.length - r.changes} row(s) did not go in: ${group.head.slice(0, 50)}`,
            );
        }),
      );
    }
  }
  for (const [target, rows] of summedAdds(c.adds)) {
    const k = target.key.length;
    const one = placeholders(k + target.columns.length);
    for (const chunk of chunks(rows)) {
      const sql = `UPDATE ${target.table} SET ${target.columns.map((c, j) => `${c} = ${target.table}.${c} + v.column${k + j + 1}`).join(', ')}
        FROM (VALUES ${chunk.map(() => one).join(', ')}) AS v
        WHERE ${target.key.map((key, j) => `${target.table}.${key} = v.column${j + 1}`).join(' AND ')}
        RETURNING ${[...target.key, ...target.columns].join(', ')}`;
      out.push(
        ex
          .all<Record<string, unknown>>(
            sql,
            chunk.flatMap((r) => [...r.key, ...r.deltas]),
          )
          .then((back) => {
            const got = new Map(
              back.map((r) => [JSON.stringify(target.key.map((key) => r[key])), r]),
            );
            for (const r of chunk)
              checkAfter(target, r.key, got.get(JSON.stringify(r.key)), r.after);
          }),
      );
    }
  }
  return out;
}

/** One row's additions, summed over every operation that moved it. */
export interface SummedAdd {
  key: readonly unknown[];
  deltas: number[];
  /** The last `after` given for the row: what it must hold once all the deltas are in. */
  after?: readonly number[];
}

/** Additions per target, one row per key: deltas summed, the last `after` given kept. */
export function summedAdds(adds: Coalesced['adds']): Map<AddTarget, SummedAdd[]> {
  const out = new Map<AddTarget, SummedAdd[]>();
  for (const [target, list] of groupBy(
    adds,
    (a) => a.target,
    (a) => a,
  )) {
    const rows = new Map<string, SummedAdd>();
    for (const a of list) {
      const id = JSON.stringify(a.key);
      const row = rows.get(id);
      if (row) {
        a.deltas.forEach((d, i) => (row.deltas[i]! += d));
        row.after = a.after;
      } else {
        rows.set(id, { key: a.key, deltas: [...a.deltas], after: a.after });
      }
    }
    out.set(target, [...rows.values()]);
  }
  return out;
}

/**
 * Write appended rows: one multi-row INSERT per group and up to {@link ROWS_PER_STATEMENT}
 * rows, rows in the order they came (so ledger entries keep their order: a group's chunks are
 * written one after another). Different groups are written at the same time.
 */
export async function flushAppended(ex: Executor, appended: AppendedRows): Promise<void> {
  if (appended.length === 0) return;
  // Groups go out together; one group's chunks one after another (chunks of different sizes
  // are different statements, which SQLite's driver may run in either order).
  const writes = [
    ...groupBy(
      appended,
      (a) => a.rows,
      (a) => a.params,
    ),
  ].map(async ([group, rows]) => {
    for (const chunk of chunks(rows)) {
      const { sql, params } = insertRows(group, chunk);
      await ex.run(sql, params);
    }
  });
  const outcomes = await Promise.allSettled(writes);
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed) throw failed.reason;
}

/** Freeze a value and everything in it. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** What a driver holds of an operation's executor besides the {@link TxExecutor} it hands over. */
export interface TrackedExecutor extends TxExecutor {
  /** Runs grouped (see {@link trackedExecutor}). */
  readonly pipelined: boolean;
  /** Wait for every deferred statement; returns the first failure, if any, and forgets it. */
  drain(): Promise<Error | null>;
  /** The rows appended so far (forgotten here). */
  takeAppended(): AppendedRows;
  /** The operation succeeded: what it `set` in the cache is kept. */
  keepCache(): void;
  /** Pipelined: send the held statements, in the order they were deferred. */
  release(): void;
  /** Pipelined: how many deferred statements are held (not yet sent). */
  heldCount(): number;
  /** Pipelined: the inserts and additions the driver sends for the whole group. */
  takeCoalesced(): Coalesced;
}

/**
 * The {@link TxExecutor} an adapter hands an operation, over one connection or transaction:
 * `write`s are sent without waiting and tracked until `drain()`, appended rows kept until
 * `takeAppended()`, and what the operation remembers staged until `keepCache()` (given the
 * adapter's `shared` memory; without one, nothing is remembered).
 *
 * `pipelined`: the operation runs grouped with others, without a transaction or savepoint of
 * its own. It may read while it runs and plan on what the adapter remembers (`recall`); every
 * write is held — statements until `release()`, inserts and additions for the group's
 * coalesced statements (`takeCoalesced()`), its key claimed with its answer — so an operation
 * that fails has sent nothing. A write it would wait for throws {@link NeedsOwnRun}: the
 * adapter runs it on its own instead. Not pipelined, nothing is recalled: an operation run on
 * its own decides on what the database holds.
 */
export function trackedExecutor(
  inner: Executor,
  shared?: Map<string, unknown>,
  pipelined = false,
): TrackedExecutor {
  const inflight = new Set<Promise<unknown>>();
  let appended: AppendedRows = [];
  let held: (() => Promise<unknown>)[] | null = pipelined ? [] : null;
  let coalesced: Coalesced = { inserts: [], adds: [] };
  const staged = new Map<string, unknown>();
  const inflightOnly = (p: Promise<unknown>) => {
    const t = p.catch(() => undefined);
    inflight.add(t);
    void t.finally(() => inflight.delete(t));
  };
  const cache: OpCache | null = shared
    ? {
        get: <T>(key: string) =>
          (staged.has(key) ? staged.get(key) : shared.get(key)) as T | undefined,
        set: (key, value) => void staged.set(key, deepFreeze(value)),
        delete: (key) => {
          staged.delete(key);
          shared.delete(key);
        },
      }
    : null;
  let firstError: Error | null = null;
  const track = (send: () => Promise<unknown>) => {
    if (held) {
      held.push(send);
      return;
    }
    const t = send().catch((e: unknown) => {
      firstError ??=
        e instanceof Error ? e : new Error('a deferred statement failed', { cause: e });
    });
    inflight.add(t);
    void t.finally(() => inflight.delete(t));
  };
  const readOnly = (sql: string) => {
    if (pipelined && !/^\s*(SELECT|WITH|PRAGMA)\b/i.test(sql)) {
      throw new NeedsOwnRun(`it waits for a write: ${sql.replace(/\s+/g, ' ').slice(0, 60)}`);
    }
  };
  return {
    pipelined,
    all: (sql, params) => {
      readOnly(sql);
      return inner.all(sql, params);
    },
    get: (sql, params) => {
      readOnly(sql);
      return inner.get(sql, params);
    },
    run: (sql, params) => {
      readOnly(sql);
      return inner.run(sql, params);
    },
    write(sql, params, expect) {
      track(() =>
        inner.run(sql, params).then((r) => {
          if (expect !== undefined && r.changes !== expect) {
            throw new StaleRead(`${r.changes} of ${expect} row(s): ${sql.slice(0, 80)}`);
          }
        }),
      );
    },
    claim(k: KeyRow): KeyClaim {
      const row = [k.scope, k.key, k.operation, k.requestHash, k.now];
      if (pipelined) {
        // Known only when the group's writes go in: a taken key fails them.
        return {
          held: Promise.resolve(true),
          answer: (response) =>
            coalesced.inserts.push({ rows: KEY_WITH_ANSWER, params: [...row, response] }),
        };
      }
      const held = inner.all<{ claimed: number }>(CLAIM_KEY, row).then((r) => r.length === 1);
      inflightOnly(held);
      return {
        held,
        answer: (response) => appended.push({ rows: KEY_ANSWERS, params: [...row, response] }),
      };
    },
    recall: <T>(key: string) => (pipelined ? cache?.get<T>(key) : undefined),
    remember(key, value) {
      cache?.set(key, value);
    },
    forget(key) {
      cache?.delete(key);
    },
    append(rows, params) {
      if (params.length !== rows.columns)
        throw new Error(
          `ledger bug: ${rows.columns} values expected for: ${rows.head.slice(0, 60)}`,
        );
      appended.push({ rows, params });
    },
    insert(rows, params) {
      if (params.length !== rows.columns)
        throw new Error(
          `ledger bug: ${rows.columns} values expected for: ${rows.head.slice(0, 60)}`,
        );
      if (pipelined) {
        coalesced.inserts.push({ rows, params });
        return;
      }
      const { sql } = insertRows(rows, [params]);
      track(() =>
        inner.run(sql, params).then((r) => {
          if (r.changes !== 1)
            throw new Error(`ledger bug: the row did not go in: ${rows.head.slice(0, 60)}`);
        }),
      );
    },
    add(target, key, deltas, after) {
      if (deltas.length !== target.columns.length || key.length !== target.key.length) {
        throw new Error(`ledger bug: bad addition to ${target.table}`);
      }
      if (pipelined) coalesced.adds.push({ target, key, deltas, after });
      else track(() => addOne(inner, { target, key, deltas, after }));
    },
    takeCoalesced() {
      const out = coalesced;
      coalesced = { inserts: [], adds: [] };
      return out;
    },
    keepCache() {
      if (!shared) return;
      for (const [k, v] of staged) shared.set(k, v);
      staged.clear();
    },
    takeAppended() {
      const out = appended;
      appended = [];
      return out;
    },
    heldCount() {
      return held?.length ?? 0;
    },
    release() {
      const sends = held ?? [];
      held = null;
      for (const send of sends) track(send);
    },
    async drain() {
      while (inflight.size > 0) await Promise.all([...inflight]);
      const e = firstError;
      firstError = null;
      return e;
    },
  };
}
