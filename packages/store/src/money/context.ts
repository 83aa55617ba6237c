import type { Driver, TxExecutor } from '../executor.js';
import type { Idempotent } from '../idempotency.js';
import type { LedgerTx } from '../ledger-tx.js';

/**
 * What money code works with: the driver (reads, and writes outside a key), the building
 * blocks of one transaction (lock and read a wallet, its live lots, entries), and idempotent
 * writes (claim the key, run, store the answer).
 */
export interface MoneyContext {
  readonly driver: Driver;
  ltx(tx: TxExecutor): LedgerTx;
  readonly idempotent: Idempotent;
}
