import { CreditsError } from '@credits/domain';
import {
  Rollback,
  RunAfterCommit,
  type Driver,
  type RowGroup,
  type TxExecutor,
} from './executor.js';
import { writeAudit } from './audit-log.js';
import type { AuditInput } from './account-types.js';

/**
 * Idempotency keys (SPEC 6): every write claims its key in the database (a UNIQUE key on
 * scope and key) and stores its answer with it, so a retry replays the answer and a
 * different request under the same key is refused.
 */

/** What an idempotent write says about itself. */
export interface IdempotentInput {
  scope: string;
  key: string;
  operation: string;
  requestHash: string;
  now: number;
  /** Written in the same transaction, with the answer as `after` unless given. */
  audit?: AuditInput;
  /** False for operations that read no appended rows (see {@link WriteOptions}). */
  readsAppended?: boolean;
  /** The body may run pipelined (see {@link WriteOptions}). */
  pipelined?: boolean;
}

/** {@link idempotent} bound to a driver, as money code and the billing store take it. */
export type Idempotent = <T, P = undefined>(
  input: IdempotentInput,
  body: (tx: TxExecutor, prefetched?: Promise<P>) => Promise<T>,
  prefetch?: (tx: TxExecutor) => Promise<P>,
) => Promise<T>;
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

/** A key's stored answer, written with the batch (the key itself was claimed first). */
const KEY_ANSWERS: RowGroup = {
  head: `INSERT INTO idempotency_keys (scope, key, operation, request_hash, created_at, response) VALUES`,
  columns: 6,
  tail: `ON CONFLICT (scope, key) DO UPDATE SET response = excluded.response`,
};

/**
 * Run `body` as one idempotent write: the first request with a key runs it and stores its
 * answer with the key; a retry with the same key and request gets that answer back, a
 * different request under the same key is refused (IDEMPOTENCY_CONFLICT).
 *
 * @example
 * const result = await idempotent(driver, { scope, key, operation: 'grant', requestHash, now },
 *   async (tx) => { ... return answer; });
 */
export function idempotent<T, P = undefined>(
  driver: Driver,
  input: IdempotentInput,
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
  return driver
    .write((tx) => claimAndRun(tx, input, body, prefetch, true), options)
    .catch((e: unknown) => {
      // The careful path runs alone (never pipelined): its key is known to be taken.
      if (e instanceof KeyTaken) {
        return driver.write((tx) => claimAndRun(tx, input, body, prefetch, false), {
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
async function claimAndRun<T, P>(
  tx: TxExecutor,
  input: IdempotentInput,
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
    return answer(tx, input, result);
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
  return answer(tx, input, await body(tx, pre));
}

/** Audit (when asked) and store the answer with the key, for replays. */
async function answer<T>(tx: TxExecutor, input: IdempotentInput, result: T): Promise<T> {
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

/** Forget keys claimed before `before` (the sweeper; a retry after that is a new request). */
export function pruneIdempotencyKeys(driver: Driver, input: { before: number }): Promise<number> {
  return driver.write(async (tx) => {
    const r = await tx.run(`DELETE FROM idempotency_keys WHERE created_at < ?`, [input.before]);
    return r.changes;
  });
}
