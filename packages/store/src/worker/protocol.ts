import { CreditsError, type Reason } from '@credits/domain';
import type { WalletCatalogEntry } from '@credits/domain';
import type { AccountStore, BillingStore, Store } from '../types.js';
import type { AutoTopUpStore, SpendLimitsStore } from '../controls/types.js';
import type { DriverStats } from '../executor.js';

/**
 * Messages between {@link WorkerStore} (the server's main thread) and the store worker
 * (`store-worker.ts`), which owns the SQLite connections and the write queue.
 */

/** Which object a call is for: the store itself or one of its parts. */
export type CallTarget = 'store' | 'accounts' | 'billing' | 'spendLimits' | 'autoTopUp';

export interface CallMessage {
  id: number;
  target: CallTarget;
  method: string;
  args: unknown[];
}

/** Figures the main thread reads synchronously (`stats()`, `catalogSnapshot()`), sent with every batch of answers. */
export interface WorkerState extends DriverStats {
  /** Set when the worker's catalog changed since its last answer. */
  catalog?: WalletCatalogEntry[];
}

export type ReplyMessage =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: EncodedError };

/**
 * What crosses, as JSON text: the calls (or answers) made in one turn of the sending thread's
 * event loop go as one message — a commit answers many operations at once, and a busy
 * server's main thread makes many calls per turn.
 */
export type CallBatch = CallMessage[];
/** The answers of one turn, with the worker's figures as they are after them. */
export interface ReplyBatch {
  replies: ReplyMessage[];
  state: WorkerState;
}

/**
 * Collect items and send them as one JSON message at the end of this event-loop turn
 * (`setImmediate`: after the I/O callbacks and microtasks that produce them).
 */
export function batcher<T>(send: (items: T[]) => void): (item: T) => void {
  let items: T[] = [];
  return (item) => {
    items.push(item);
    if (items.length > 1) return;
    setImmediate(() => {
      const out = items;
      items = [];
      send(out);
    });
  };
}

/** Sent once, after the store opened (or failed to). */
export type ReadyMessage =
  { ready: true; state: WorkerState } | { ready: false; error: EncodedError };

export interface EncodedError {
  name: string;
  message: string;
  stack?: string;
  code?: unknown;
  reason?: Reason;
  details?: Record<string, unknown>;
}

export function encodeError(e: unknown): EncodedError {
  if (e instanceof CreditsError) {
    return {
      name: e.name,
      message: e.message,
      stack: e.stack,
      reason: e.reason,
      details: e.details,
    };
  }
  if (e instanceof Error) {
    const code = (e as { code?: unknown }).code;
    return {
      name: e.name,
      message: e.message,
      stack: e.stack,
      ...(code === undefined ? {} : { code }),
    };
  }
  return { name: 'Error', message: String(e) };
}

/** The error the caller would have got had the store run on its own thread. */
export function decodeError(e: EncodedError): Error {
  if (e.reason !== undefined) {
    const err = new CreditsError(e.reason, e.message, e.details ?? {});
    if (e.stack) err.stack = e.stack;
    return err;
  }
  const err = new Error(e.message);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  if (e.code !== undefined) (err as Error & { code?: unknown }).code = e.code;
  return err;
}

// ------------------------------------------------------------------ the calls a worker answers

/** Names of T's members that are functions returning a promise. */
type AsyncMethodOf<T> = {
  [K in keyof T]: T[K] extends (...args: never[]) => Promise<unknown> ? K : never;
}[keyof T] &
  string;

/** Fails to compile unless `Listed` names every async method of T (and nothing else). */
type Exhaustive<T, Listed extends string> = [AsyncMethodOf<T>] extends [Listed]
  ? [Listed] extends [AsyncMethodOf<T>]
    ? true
    : never
  : never;

/**
 * The store methods the main thread forwards. `close`, `refreshCatalog` and `migrate` are
 * forwarded too but also update the main thread's copies; `stats`, `catalogSnapshot` and
 * `dialect` are answered on the main thread.
 */
export const STORE_METHODS = [
  'migrate',
  'close',
  'createWorkspace',
  'getWorkspace',
  'listWorkspaceIds',
  'grant',
  'reserve',
  'capture',
  'release',
  'charge',
  'refundJob',
  'expireHolds',
  'expireLots',
  'pruneIdempotencyKeys',
  'wallets',
  'lots',
  'hasDueLots',
  'getJob',
  'history',
  'jobs',
  'activeRules',
  'ruleVersions',
  'getRuleVersion',
  'publishRules',
  'ruleDraft',
  'saveRuleDraft',
  'recentJobs',
  'refreshCatalog',
  'verify',
  'probeWrite',
] as const;

export const ACCOUNTS_METHODS = [
  'createAccount',
  'createUser',
  'userByEmail',
  'user',
  'memberships',
  'role',
  'members',
  'addMember',
  'removeMember',
  'searchWorkspaces',
  'createSession',
  'sessionUser',
  'revokeSession',
  'userSessions',
  'revokeUserSessions',
  'setPassword',
  'createPasswordReset',
  'redeemPasswordReset',
  'securityEvents',
  'hitRateLimit',
  'rateLimitCount',
  'clearRateLimit',
  'createApiKey',
  'apiKeyByHash',
  'apiKeys',
  'touchApiKey',
  'apiKeySpend',
  'createInvitation',
  'invitations',
  'invitationByToken',
  'reissueInvitation',
  'revokeInvitation',
  'acceptInvitation',
  'revokeApiKey',
  'audit',
  'auditLog',
] as const;

export const BILLING_METHODS = [
  'seed',
  'plans',
  'plan',
  'savePlan',
  'packs',
  'savePack',
  'catalog',
  'updateCatalog',
  'createOrder',
  'createPlanOrder',
  'attachSession',
  'order',
  'orderBySession',
  'orders',
  'applyPaymentEvent',
  'expireOrders',
  'refundOrder',
  'adjust',
  'notifications',
  'markRead',
  'lowThresholds',
  'setLowThreshold',
  'setAlertWebhook',
  'dueDeliveries',
  'claimDelivery',
  'recordDelivery',
  'alertWebhook',
  'rotateAlertWebhookSecret',
  'webhookDeliveries',
  'resendNotification',
  'changePlan',
  'pendingPlan',
  'cancelPendingPlan',
  'applyPendingPlan',
  'lastAllowanceCycle',
  'cycleUsage',
  'spendEntries',
] as const;

export const SPEND_LIMITS_METHODS = [
  'list',
  'set',
  'remove',
  'spendByActor',
  'usageByActor',
  'recordAlerts',
  'alerts',
] as const;

export const AUTO_TOP_UP_METHODS = [
  'paymentMethod',
  'savePaymentMethod',
  'removePaymentMethod',
  'settings',
  'enable',
  'disable',
  'attempts',
  'begin',
  'settle',
  'unsettled',
  'lostCrossings',
] as const;

// A method added to Store or one of its parts must be listed above (or the build fails).
export const LISTS_ARE_EXHAUSTIVE: [
  Exhaustive<Store, (typeof STORE_METHODS)[number]>,
  Exhaustive<AccountStore, (typeof ACCOUNTS_METHODS)[number]>,
  Exhaustive<BillingStore, (typeof BILLING_METHODS)[number]>,
  Exhaustive<SpendLimitsStore, (typeof SPEND_LIMITS_METHODS)[number]>,
  Exhaustive<AutoTopUpStore, (typeof AUTO_TOP_UP_METHODS)[number]>,
] = [true, true, true, true, true];

export const METHODS: Record<CallTarget, ReadonlySet<string>> = {
  store: new Set(STORE_METHODS),
  accounts: new Set(ACCOUNTS_METHODS),
  billing: new Set(BILLING_METHODS),
  spendLimits: new Set(SPEND_LIMITS_METHODS),
  autoTopUp: new Set(AUTO_TOP_UP_METHODS),
};
