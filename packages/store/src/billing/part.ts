import type { Driver, TxExecutor } from '../executor.js';
import type { AuditInput } from '../account-types.js';
import type { LedgerTx } from '../ledger-tx.js';
import type { Order } from './types.js';

export const ORDER_COLUMNS = `id, workspace_id AS "workspaceId", kind, pack_id AS "packId", plan_id AS "planId", wallet, credits, price_cents AS "priceCents",
  currency, provider, provider_session AS "providerSession", checkout_url AS "checkoutUrl", status, lot_id AS "lotId",
  refunded_credits AS "refundedCredits", spent_before_refund AS "spentBeforeRefund", created_by AS "createdBy",
  created_at AS "createdAt", updated_at AS "updatedAt"`;

export const NOTIFICATION_COLUMNS = `id, workspace_id AS "workspaceId", wallet, kind, balance, message, created_at AS "createdAt",
  read_at AS "readAt", delivery, attempts`;

/** Numeric columns as numbers (PostgreSQL gives BIGINT as text without a parser). */
export function num<T extends object>(row: T, keys: (keyof T)[]): T {
  const out = { ...row } as Record<keyof T, unknown>;
  for (const k of keys) if (out[k] !== null && out[k] !== undefined) out[k] = Number(out[k]);
  return out as T;
}

export function toOrder(r: Order): Order {
  return num(r, [
    'credits',
    'priceCents',
    'refundedCredits',
    'spentBeforeRefund',
    'createdAt',
    'updatedAt',
  ]);
}
/** What each part of the billing store works with. */
export abstract class BillingPart {
  constructor(
    protected readonly driver: Driver,
    protected readonly ledger: (tx: TxExecutor) => LedgerTx,
    protected readonly idempotent: <T>(
      input: {
        scope: string;
        key: string;
        operation: string;
        requestHash: string;
        now: number;
        audit?: AuditInput;
      },
      body: (tx: TxExecutor) => Promise<T>,
    ) => Promise<T>,
    protected readonly onCatalogChange: () => void,
  ) {}
}
