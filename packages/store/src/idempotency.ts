import { CreditsError } from '@credits/domain';
import {
  Rollback,
  RunAfterCommit,
  type Driver,
  type KeyClaim,
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
  // First, optimistically: claim the key and run the body at once (a new key is the usual
  // case), so the claim costs no round trip of its own. If the key turns out taken, that
  // attempt rolls back whole and the careful path below answers.
  return driver
    .write((tx) => claimAndRun(tx, input, body, prefetch, true), { operation: input.operation })
    .catch((e: unknown) => {
      // The careful path runs on its own: its key is known to be taken.
      if (e instanceof KeyTaken) {
        return driver.write((tx) => claimAndRun(tx, input, body, prefetch, false));
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
  const claim = tx.claim(input);
  if (optimistic) {
    claim.held.catch(() => undefined);
    let result: T;
    try {
      result = await body(tx, pre);
    } catch (e) {
      // A refusal means nothing if the key was taken: the first answer stands.
      if (!(await claim.held)) throw new KeyTaken();
      throw e;
    }
    if (!(await claim.held)) throw new KeyTaken();
    return answer(tx, claim, input, result);
  }
  if (!(await claim.held)) {
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
  return answer(tx, claim, input, await body(tx, pre));
}

/** Audit (when asked) and store the answer with the key, for replays. */
async function answer<T>(
  tx: TxExecutor,
  claim: KeyClaim,
  input: IdempotentInput,
  result: T,
): Promise<T> {
  if (input.audit)
    await writeAudit(tx, { ...input.audit, after: input.audit.after ?? result }, input.now);
  claim.answer(JSON.stringify(result));
  return result;
}

/** Forget keys claimed before `before` (the sweeper; a retry after that is a new request). */
export function pruneIdempotencyKeys(driver: Driver, input: { before: number }): Promise<number> {
  return driver.write(async (tx) => {
    const r = await tx.run(`DELETE FROM idempotency_keys WHERE created_at < ?`, [input.before]);
    return r.changes;
  });
}
