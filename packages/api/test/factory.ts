import { randomUUID } from 'node:crypto';
import { getErrorShape, TRPCError } from '@trpc/server';
import type { DialectFixture } from '@credits/store/testing';
import type { Store } from '@credits/store';
import {
  appRouter,
  createCaller,
  RulesService,
  workspaceServices,
  type Caller,
  type Context,
} from '../src/index.js';

export const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
export const SECOND = 1000;
export const HOUR = 3_600_000;

/** The caller every procedure but health needs: a service key with the admin scope. */
export const SERVICE_CALLER: Caller = {
  kind: 'service',
  id: 'service:test',
  scopes: ['usage:write', 'wallets:read', 'admin'],
};

/** A clock the test moves by hand. */
export interface TestClock {
  now(): number;
  set(ms: number): void;
  advance(ms: number): void;
}

export function testClock(start = T0): TestClock {
  let t = start;
  return {
    now: () => t,
    set: (ms) => {
      t = ms;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

let counter = 0;
/** A fresh idempotency key. */
export function key(prefix = 'k'): string {
  counter += 1;
  return `${prefix}-${counter}-${randomUUID()}`;
}

export type PlanId = 'free' | 'starter' | 'pro' | 'business';

export interface ApiHarness {
  store: Store;
  rules: RulesService;
  clock: TestClock;
  ctx: Context;
  api: ReturnType<typeof createCaller>;
  /** The workspace created through `admin.workspaces.create`. */
  workspaceId: string;
  /** Another workspace, with the same plan. */
  createWorkspace(plan?: PlanId): Promise<string>;
  /** Give a wallet credits through `admin.ledger.grant`. */
  grant(
    wallet: 'ai_tokens' | 'image_credits' | 'video_credits',
    amount: number,
    workspaceId?: string,
  ): Promise<void>;
  /** Everything a user could see change: balances, every history entry, every job, every lot. */
  snapshot(workspaceId?: string): Promise<unknown>;
  cleanup(): Promise<void>;
}

/**
 * A store of the given dialect with the default rules seeded, a workspace created through the
 * API (plan 'pro' by default: it gets the 50-credit video trial) and a caller whose clock the
 * test controls.
 */
export async function makeApi(
  dialect: DialectFixture,
  opts: { plan?: PlanId } = {},
): Promise<ApiHarness> {
  const { store, cleanup } = await dialect.make();
  const clock = testClock();
  // refreshMs 0: every call sees the store's active version, as a second process would.
  const rules = new RulesService(store, { refreshMs: 0, clock: clock.now });
  await rules.seed(clock.now());
  const ctx: Context = {
    store,
    rules,
    ...workspaceServices({ store, clock: clock.now }),
    now: clock.now,
    caller: SERVICE_CALLER,
    config: { holdTtlMs: HOUR },
  };
  const api = createCaller(ctx);
  const createWorkspace = async (plan: PlanId = opts.plan ?? 'pro') => {
    const r = await api.admin.workspaces.create({
      name: `Test ${plan}`,
      plan,
      idempotencyKey: key('ws'),
    });
    return r.workspace.id;
  };
  const workspaceId = await createWorkspace();
  return {
    store,
    rules,
    clock,
    ctx,
    api,
    workspaceId,
    createWorkspace,
    async grant(wallet, amount, ws = workspaceId) {
      await api.admin.ledger.grant({
        workspaceId: ws,
        wallet,
        amount,
        source: 'purchase',
        reason: 'Test top-up',
        idempotencyKey: key('grant'),
      });
    },
    async snapshot(ws = workspaceId) {
      const history = await store.history({ workspaceId: ws, limit: 200 });
      const jobs = await store.jobs({ workspaceId: ws, limit: 200 });
      return {
        wallets: await store.wallets(ws),
        history: history.items,
        jobs: jobs.items,
        lots: await store.lots({ workspaceId: ws }),
        workspaces: await store.listWorkspaceIds(),
      };
    },
    cleanup,
  };
}

export interface ErrorInfo {
  code: string;
  httpStatus: number;
  reason: string | null;
  details: Record<string, unknown> | null;
  message: string;
}

/**
 * The error a call failed with, formatted exactly as a client receives it (the router's own
 * error formatter runs), so `reason` is `data.reason` on the wire. Fails the test when the
 * call succeeds.
 */
export async function errorOf(
  call: Promise<unknown> | (() => Promise<unknown>),
): Promise<ErrorInfo> {
  let error: unknown;
  try {
    await (typeof call === 'function' ? call() : call);
  } catch (e) {
    error = e;
  }
  if (error === undefined) throw new Error('expected the call to fail, but it succeeded');
  if (!(error instanceof TRPCError)) {
    throw error instanceof Error
      ? error
      : new Error(`the call failed with a non-error: ${JSON.stringify(error)}`);
  }
  const shape = getErrorShape({
    config: appRouter._def._config,
    error,
    type: 'unknown',
    path: undefined,
    input: undefined,
    ctx: undefined,
  });
  const data = shape.data as {
    code: string;
    httpStatus: number;
    reason: string | null;
    details: Record<string, unknown> | null;
  };
  return {
    code: data.code,
    httpStatus: data.httpStatus,
    reason: data.reason,
    details: data.details,
    message: shape.message,
  };
}

/** What a provider's `paid` event reports for an order: its own price, currency and id. */
export async function paymentOf(store: Store, orderId: string) {
  const order = await store.billing.order({ orderId });
  if (!order) throw new Error(`no order ${orderId}`);
  return { amount: order.priceCents, currency: order.currency, reference: order.id };
}
