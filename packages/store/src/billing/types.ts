import type { Pack, Plan, WalletCatalogEntry, WalletKind } from '@credits/domain';
import type { AuditInput } from '../account-types.js';

/**
 * Billing as the rest of the product sees it: plans, packs, the wallet catalog, orders and
 * payments, refunds, adjustments, alert notifications and their deliveries, plan changes and
 * cycles (records and the {@link BillingStore} interface; no class).
 */

export type OrderStatus = 'pending' | 'paid' | 'declined' | 'expired' | 'refunded';

/** What an order buys: a credit pack, or a plan (an upgrade through checkout, SPEC 16). */
export type OrderKind = 'pack' | 'plan';

export interface Order {
  id: string;
  workspaceId: string;
  kind: OrderKind;
  /** The pack bought (pack orders); null for a plan order. */
  packId: string | null;
  /** The plan bought (plan orders); null for a pack order. */
  planId: string | null;
  /** The pack's wallet; `ai_tokens` for a plan order (the wallet the plan's allowance is in). */
  wallet: WalletKind;
  /** The pack's credits; for a plan order, the plan's AI Tokens per cycle when it was ordered. */
  credits: number;
  priceCents: number;
  currency: string;
  provider: string;
  providerSession: string | null;
  checkoutUrl: string | null;
  status: OrderStatus;
  lotId: string | null;
  refundedCredits: number | null;
  spentBeforeRefund: number | null;
  createdBy: string;
  createdAt: number;
  updatedAt: number;
}

export interface Notification {
  id: number;
  workspaceId: string;
  wallet: WalletKind;
  /** low and empty: the balance; limit_threshold and auto_top_up_off: spend controls (SPEC 15). */
  kind: 'low' | 'empty' | 'limit_threshold' | 'auto_top_up_off';
  balance: number;
  message: string;
  createdAt: number;
  readAt: number | null;
  delivery: 'none' | 'pending' | 'delivered' | 'failed';
  attempts: number;
}

/** One attempt to post an alert webhook, as the owner's delivery log shows it. */
export interface WebhookDelivery {
  id: number;
  notificationId: number;
  url: string;
  ok: boolean;
  /** The receiver's HTTP status; null when no answer came (refused address, timeout, network). */
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  attemptedAt: number;
  /** The alert it carried. */
  message: string;
}

/** Plans, packs, catalog, orders, refunds, adjustments, notifications, cycles. */
export interface BillingStore {
  /** Insert the seeded plans, packs and catalog where missing; edits made since stay. */
  seed(input: {
    plans: readonly Plan[];
    packs: readonly Pack[];
    catalog: readonly WalletCatalogEntry[];
    now: number;
  }): Promise<void>;
  plans(input?: { includeRetired?: boolean }): Promise<
    (Plan & {
      active: boolean;
    })[]
  >;
  plan(id: string): Promise<
    | (Plan & {
        active: boolean;
      })
    | null
  >;
  /** Create or update a plan; audited with before and after. */
  savePlan(input: {
    plan: Plan & {
      active: boolean;
    };
    now: number;
    audit: AuditInput;
  }): Promise<void>;
  packs(input?: { wallet?: WalletKind; includeInactive?: boolean }): Promise<Pack[]>;
  savePack(input: { pack: Pack; now: number; audit: AuditInput }): Promise<void>;
  catalog(): Promise<WalletCatalogEntry[]>;
  updateCatalog(input: {
    kind: WalletKind;
    patch: {
      label?: string;
      usedFor?: string;
      available?: boolean;
      lowThreshold?: number;
    };
    now: number;
    audit: AuditInput;
  }): Promise<void>;
  /** A pending order for a pack; the same key and body give back the same order. */
  createOrder(input: {
    workspaceId: string;
    pack: Pack;
    provider: string;
    createdBy: string;
    now: number;
    idempotencyKey: string;
    requestHash: string;
  }): Promise<Order>;
  /**
   * A pending order for a plan (an upgrade through checkout): the plan's display price in
   * minor units, in `PLAN_CURRENCY` (domain). Its verified `paid` event changes the plan at once
   * (as {@link BillingStore.changePlan} does an upgrade). The same key and body give back the
   * same order. A plan with no price or no AI Tokens cannot be ordered (VALIDATION).
   */
  createPlanOrder(input: {
    workspaceId: string;
    plan: Plan;
    provider: string;
    createdBy: string;
    now: number;
    idempotencyKey: string;
    requestHash: string;
  }): Promise<Order>;
  /** Remember the provider's session for an order (set once: the first one wins). */
  attachSession(input: {
    orderId: string;
    session: string;
    url: string;
    now: number;
  }): Promise<Order>;
  order(input: { orderId: string; workspaceId?: string }): Promise<Order | null>;
  orderBySession(input: { provider: string; session: string }): Promise<Order | null>;
  orders(input: { workspaceId: string; limit: number }): Promise<Order[]>;
  /**
   * Apply a verified payment event once: the event id is claimed first (a UNIQUE key, kept
   * for good), then a pending order becomes paid with a purchase lot in the pack's wallet
   * (never another) — or, for a plan order, the plan changes at once with the upgrade rule of
   * {@link BillingStore.changePlan}, in the same transaction — or declined/expired with no
   * credits. A `paid` event whose amount,
   * currency or reference is not the order's is `mismatch`: audited (`payment.mismatch`),
   * no credits, the order stays pending. Returns what happened.
   */
  applyPaymentEvent(input: {
    provider: string;
    eventId: string;
    type: string;
    session: string;
    outcome: 'paid' | 'declined' | 'expired';
    /** What the event says was paid; a `paid` event must match the order (else `mismatch`). */
    payment: PaymentFacts | null;
    now: number;
  }): Promise<{ result: PaymentEventResult; order: Order | null; mismatch?: string[] }>;
  /** Pending orders older than `before` expire (no credits). */
  expireOrders(input: { before: number; now: number }): Promise<number>;
  /**
   * Refund a paid order: what is left of its lot leaves the wallet as a `refund` entry, the
   * lot closes (credits still held by running jobs expire when they return), and the answer
   * says how much had already been spent.
   */
  refundOrder(input: {
    orderId: string;
    actor: string;
    reason: string;
    now: number;
    idempotencyKey: string;
    requestHash: string;
  }): Promise<{
    orderId: string;
    refunded: number;
    alreadySpent: number;
    stillHeld: number;
    balance: number;
  }>;
  /**
   * A signed manual adjustment: a positive one is a new `adjustment` lot; a negative one
   * draws from the wallet's lots in spend order (any restriction) and never below zero.
   */
  adjust(input: {
    workspaceId: string;
    wallet: WalletKind;
    amount: number;
    reason: string;
    actor: string;
    now: number;
    idempotencyKey: string;
    requestHash: string;
  }): Promise<{
    wallet: WalletKind;
    amount: number;
    balance: number;
    lots: {
      lotId: string;
      amount: number;
    }[];
  }>;
  notifications(input: {
    workspaceId: string;
    unreadOnly?: boolean;
    limit: number;
  }): Promise<Notification[]>;
  markRead(input: { workspaceId: string; ids: number[]; now: number }): Promise<number>;
  /** The workspace's own low thresholds (wallets without one use the catalog's). */
  lowThresholds(
    workspaceId: string,
  ): Promise<{ wallet: WalletKind; lowThreshold: number; updatedAt: number }[]>;
  /**
   * Set (or, with null, clear back to `catalog.lowThreshold`) one wallet's low threshold for a
   * workspace, audited, in one transaction. When the new threshold makes the wallet low (it
   * was not at the old one), the same write raises the wallet's low alert, as a spend that
   * crossed it would. Returns the threshold now in force.
   */
  setLowThreshold(input: {
    workspaceId: string;
    wallet: WalletKind;
    lowThreshold: number | null;
    catalog: { label: string; lowThreshold: number; available: boolean };
    now: number;
    audit: AuditInput;
  }): Promise<{ lowThreshold: number; custom: boolean; alerted: boolean }>;
  setAlertWebhook(input: {
    workspaceId: string;
    url: string | null;
    secret: string | null;
    now: number;
    audit: AuditInput;
  }): Promise<void>;
  /** Notifications whose webhook is due, with where to send them. */
  dueDeliveries(input: { now: number; limit: number }): Promise<
    (Notification & {
      url: string;
      secret: string;
    })[]
  >;
  /**
   * Claim a due delivery before sending it. The conditional update succeeds for one caller
   * only (another pass, another server process), and moves the next attempt to `leaseUntil`,
   * so a sender that dies mid-delivery is retried once the lease has run out.
   */
  claimDelivery(input: { id: number; now: number; leaseUntil: number }): Promise<boolean>;
  /** Record an attempt's outcome; with `log`, also a row of the delivery log (same write). */
  recordDelivery(input: {
    id: number;
    ok: boolean;
    now: number;
    nextAttemptAt: number | null;
    log?: {
      workspaceId: string;
      url: string;
      statusCode: number | null;
      error: string | null;
      durationMs: number;
    };
  }): Promise<void>;
  /** Where the workspace's alerts are posted (null: nowhere), and whether a secret is set. */
  alertWebhook(workspaceId: string): Promise<{ url: string | null; hasSecret: boolean }>;
  /** A new signing secret for a set webhook (false when none is set). Audited. */
  rotateAlertWebhookSecret(input: {
    workspaceId: string;
    secret: string;
    now: number;
    audit: AuditInput;
  }): Promise<boolean>;
  /** The delivery log, newest first. */
  webhookDeliveries(input: { workspaceId: string; limit: number }): Promise<WebhookDelivery[]>;
  /**
   * Send a notification's webhook again, now, with a fresh set of retries (false when the
   * notification is not this workspace's or no webhook is set). Audited.
   */
  resendNotification(input: {
    workspaceId: string;
    id: number;
    now: number;
    audit: AuditInput;
  }): Promise<boolean>;
  /**
   * An admin's plan change, in one transaction under one idempotency key: a downgrade (a
   * smaller allowance) waits for the next reset; anything else applies now, and the AI
   * Tokens allowance rises at once to the new limit less what was used this cycle (spent or
   * held) — a top-up lot expiring with the cycle. The same key and body replay the answer.
   */
  changePlan(input: {
    workspaceId: string;
    plan: Plan;
    downgrade: boolean;
    cycle: {
      key: string;
      start: number;
      end: number;
    };
    actor: string;
    reason: string;
    now: number;
    idempotencyKey: string;
    requestHash: string;
    /** Whose idempotency keys these are: `_admin` (the default) or the workspace (an owner's change). */
    scope?: string;
  }): Promise<{
    plan: string;
    pendingPlan: string | null;
    effective: 'now' | 'next_reset';
    toppedUp: number;
  }>;
  pendingPlan(workspaceId: string): Promise<string | null>;
  /** Cancel a scheduled downgrade (audited); the plan it named, or null when none was pending. */
  cancelPendingPlan(input: {
    workspaceId: string;
    actor: string;
    now: number;
  }): Promise<string | null>;
  /** Apply a pending downgrade (at a reset): once, only if it is still pending. */
  applyPendingPlan(input: { workspaceId: string; now: number }): Promise<string | null>;
  /** The latest cycle a workspace's AI Token allowance was granted for (its key), if any. */
  lastAllowanceCycle(workspaceId: string): Promise<string | null>;
  /** Allowance granted and tokens spent in the AI wallet since `since`. */
  cycleUsage(input: { workspaceId: string; cycleKey: string; since: number }): Promise<{
    planLimit: number;
    usedThisCycle: number;
  }>;
  /** Spend entries in a window, for charts. */
  spendEntries(input: {
    workspaceId: string;
    wallet?: WalletKind;
    from: number;
    to: number;
  }): Promise<
    {
      wallet: WalletKind;
      amount: number;
      createdAt: number;
    }[]
  >;
}

/** What a payment event says was paid, as the provider reported it (null where it did not say). */
export interface PaymentFacts {
  /** In the currency's minor units (cents), as orders keep prices. */
  amount: number | null;
  currency: string | null;
  /** The order id the provider carried for us (Stripe's `client_reference_id` or metadata). */
  reference: string | null;
}

/** What applying one payment event did. */
export type PaymentEventResult =
  'duplicate' | 'unknown_order' | 'already_settled' | 'paid' | 'declined' | 'expired' | 'mismatch';
