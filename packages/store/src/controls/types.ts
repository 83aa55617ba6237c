import type { LimitMode, LimitScope, SpendLimitRule, WalletKind } from '@credits/domain';

/** Written in the same transaction as a change an owner makes (who, what, which workspace). */
export interface ControlsAudit {
  actor: string;
  action: string;
  reason?: string | null;
}

/** One spending limit as stored: per workspace × wallet × (workspace | member | key). */
export interface SpendLimit extends SpendLimitRule {
  workspaceId: string;
  wallet: WalletKind;
  updatedBy: string;
  updatedAt: number;
}

/** What one actor (`user:<id>`, `key:<id>`, …) has spent this cycle and holds now in a wallet. */
/** A spend entry with the actor it belongs to (who reserved or charged its job). */
export interface ActorSpend {
  wallet: WalletKind;
  /** Credits spent (positive). */
  amount: number;
  createdAt: number;
  actor: string;
}

export interface ActorUsage {
  actor: string;
  /** Credits of jobs settled since the cycle began (captures and charges). */
  used: number;
  /** Credits of that actor's open holds. */
  held: number;
}

/** A threshold a limit has alerted this cycle (each alerts once per cycle). */
export interface LimitAlert {
  wallet: WalletKind;
  scope: LimitScope;
  subjectId: string | null;
  cycleKey: string;
  threshold: number;
  used: number;
  createdAt: number;
}

/** A payment method saved with the provider for payments made without the owner present. */
export interface PaymentMethod {
  id: string;
  workspaceId: string;
  provider: string;
  /** The provider's customer (Stripe `cus_…`), when it has one. */
  customerRef: string | null;
  /** The provider's reference to the method (Stripe `seti_…`/`pm_…`, sandbox `sbx_pm_…`). */
  methodRef: string;
  /** For people: "Visa •••• 4242". */
  label: string;
  createdBy: string;
  createdAt: number;
}

/** What an owner agreed to, word for word, when turning auto top-up on. */
export interface AutoTopUpConsent {
  id: string;
  workspaceId: string;
  wallet: WalletKind;
  givenBy: string;
  givenAt: number;
  /** The exact terms text shown and accepted. */
  terms: string;
  packId: string;
  packCredits: number;
  priceCents: number;
  currency: string;
  /** Top up when the available balance falls below this many credits. */
  threshold: number;
  /** At most this much money per billing cycle. */
  monthlyCapCents: number;
}

export type AutoTopUpDisabledReason = 'owner' | 'declines' | 'no_payment_method' | 'pack_changed';

/** Auto top-up for one wallet: on or off, and the consent it runs under. */
export interface AutoTopUpSetting {
  workspaceId: string;
  wallet: WalletKind;
  enabled: boolean;
  consecutiveFailures: number;
  disabledReason: AutoTopUpDisabledReason | null;
  updatedAt: number;
  consent: AutoTopUpConsent;
}

export type AutoTopUpAttemptStatus = 'pending' | 'paid' | 'declined' | 'failed';

/** One purchase auto top-up started: an order charged to the saved method. */
export interface AutoTopUpAttempt {
  id: string;
  workspaceId: string;
  wallet: WalletKind;
  /** Names the threshold crossing that started it: one attempt per crossing. */
  crossingKey: string;
  cycleKey: string;
  orderId: string;
  priceCents: number;
  status: AutoTopUpAttemptStatus;
  createdAt: number;
  settledAt: number | null;
}

/** Why an auto top-up did not start. */
export type AutoTopUpSkip =
  | 'not_enabled'
  | 'no_payment_method'
  | 'pack_changed'
  | 'cap_reached'
  | 'in_flight'
  | 'duplicate_crossing';

/** Spending limits (SPEC 15) and the thresholds they alerted; owners' changes audited. */
export interface SpendLimitsStore {
  /** Every limit of a workspace (one wallet, or all), workspace limits first. */
  list(input: { workspaceId: string; wallet?: WalletKind }): Promise<SpendLimit[]>;
  /** Create or replace one limit; audited with before and after. */
  set(input: {
    workspaceId: string;
    wallet: WalletKind;
    scope: LimitScope;
    subjectId: string | null;
    amount: number;
    mode: LimitMode;
    thresholds: readonly number[];
    now: number;
    audit: ControlsAudit;
  }): Promise<SpendLimit>;
  /** Remove one limit; false when there was none. Audited when removed. */
  remove(input: {
    workspaceId: string;
    wallet: WalletKind;
    scope: LimitScope;
    subjectId: string | null;
    now: number;
    audit: ControlsAudit;
  }): Promise<boolean>;
  /**
   * Spend entries in `[from, to)` (one wallet, or all; one actor, or all), oldest first, each
   * with the actor who reserved or charged its job: "who spent what" (usage.summary grouped
   * by member or key). At most 200,000 rows.
   */
  spendByActor(input: {
    workspaceId: string;
    wallet?: WalletKind;
    from: number;
    to: number;
    actor?: string;
  }): Promise<ActorSpend[]>;
  /** Spend since `since` and open holds in one wallet, per actor who reserved or charged. */
  usageByActor(input: {
    workspaceId: string;
    wallet: WalletKind;
    since: number;
  }): Promise<ActorUsage[]>;
  /**
   * Record the thresholds a limit crossed this cycle, each once (a UNIQUE key per limit,
   * cycle and threshold); when any is new, one in-app notification (and its signed webhook
   * when the workspace set one). Returns the newly recorded thresholds.
   */
  recordAlerts(input: {
    workspaceId: string;
    wallet: WalletKind;
    scope: LimitScope;
    subjectId: string | null;
    cycleKey: string;
    thresholds: readonly number[];
    used: number;
    message: string;
    now: number;
  }): Promise<number[]>;
  /** The thresholds alerted in a cycle. */
  alerts(input: { workspaceId: string; cycleKey: string }): Promise<LimitAlert[]>;
}

/**
 * Auto top-up (SPEC 15): saved payment methods, consents kept word for word, settings, and
 * the purchases it starts. Owners' changes are audited in the same transaction.
 */
export interface AutoTopUpStore {
  /** The workspace's saved method with this provider, if any. */
  paymentMethod(input: { workspaceId: string; provider: string }): Promise<PaymentMethod | null>;
  /**
   * Save a method (from the provider's verified webhook); it replaces the one saved before.
   * The same method saved again changes nothing.
   */
  savePaymentMethod(input: {
    workspaceId: string;
    provider: string;
    customerRef: string | null;
    methodRef: string;
    label: string;
    createdBy: string;
    now: number;
  }): Promise<PaymentMethod>;
  /** Forget the saved method; auto top-up turns off where it was on. Audited. */
  removePaymentMethod(input: {
    workspaceId: string;
    provider: string;
    now: number;
    audit: ControlsAudit;
  }): Promise<boolean>;

  /** Settings of a workspace, with the consent each runs under. */
  settings(input: { workspaceId: string }): Promise<AutoTopUpSetting[]>;
  /** Turn auto top-up on under a new consent (recorded word for word). Audited. */
  enable(input: {
    consent: Omit<AutoTopUpConsent, 'id'>;
    now: number;
    audit: ControlsAudit;
  }): Promise<AutoTopUpSetting>;
  /** Turn it off; false when it was not on. Audited. */
  disable(input: {
    workspaceId: string;
    wallet: WalletKind;
    now: number;
    audit: ControlsAudit;
  }): Promise<boolean>;

  /** Attempts of one cycle (or the latest ones), newest first. */
  attempts(input: {
    workspaceId: string;
    wallet?: WalletKind;
    cycleKey?: string;
    limit: number;
  }): Promise<AutoTopUpAttempt[]>;
  /**
   * Start one purchase for a threshold crossing, in one transaction: auto top-up is on, a
   * method is saved, the consented pack is still on sale at the consented price, the cycle's
   * money stays within the cap; then an attempt (UNIQUE per crossing, and at most one pending
   * per wallet) and its pending order. The caller then charges the saved method.
   */
  begin(input: {
    workspaceId: string;
    wallet: WalletKind;
    crossingKey: string;
    cycleKey: string;
    provider: string;
    now: number;
  }): Promise<
    | {
        started: true;
        attempt: AutoTopUpAttempt;
        method: PaymentMethod;
        consent: AutoTopUpConsent;
      }
    | { started: false; skipped: AutoTopUpSkip }
  >;
  /**
   * Settle the attempt of an order the payment webhook settled (once: the attempt must still
   * be pending). Paid resets the failure count; declined adds one, and the third in a row
   * turns auto top-up off with one notification to the owners. An expired order, or
   * `failed: true` (the provider took no payment), ends the attempt without counting.
   */
  settle(input: {
    orderId: string;
    now: number;
    failed?: boolean;
  }): Promise<{ settled: boolean; status: AutoTopUpAttemptStatus | null; turnedOff: boolean }>;
  /** Pending attempts whose order is no longer pending (a crash between the two), to settle. */
  unsettled(input: { limit: number }): Promise<{ orderId: string }[]>;
  /**
   * Wallets whose auto top-up is on, whose available balance is below its threshold and with
   * no attempt in flight, each with the crossing that took it below (the newest debit of a
   * job from at or above the threshold to below it: `<wallet>:<jobId>`, the key the spend
   * trigger uses), so a crossing whose trigger was lost (the process stopped) can be started
   * again; `begin` refuses a crossing already tried. Wallets with no such debit are left out.
   */
  lostCrossings(input: {
    limit: number;
  }): Promise<{ workspaceId: string; wallet: WalletKind; crossingKey: string }[]>;
}
