import type { DialectFixture } from '@credits/store/testing';
import type { Lot, Store } from '@credits/store';
import {
  RulesService,
  createCaller,
  workspaceServices,
  type Context,
  type PaymentGateway,
} from '../src/index.js';
// The sweeper lives in the server app; the cycle tests run its pass beside requests, as a
// server process does. Test code only: no package imports the server.
import {
  newSweepState,
  sweepOnce,
  type SweepOptions,
  type SweepResult,
} from '../../../apps/server/src/sweeper.js';
export {
  ORDER_TTL_MS,
  newSweepState,
  startSweeper,
  sweepOnce,
} from '../../../apps/server/src/sweeper.js';
export {
  ALERT_RETRY_DELAYS_MS,
  ALERT_SIGNATURE_HEADER,
  deliverDueAlerts,
  type AlertPayload,
  type FetchLike,
} from '../../../apps/server/src/alert-delivery.js';
import { HOUR, SERVICE_CALLER, key, testClock, type PlanId, type TestClock } from './factory.js';

export const DAY = 86_400_000;
export const MINUTE = 60_000;

/** Days in a month by the Gregorian rule, written out rather than asked of the code under test. */
export function daysIn(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month]!;
}

/** The UTC midnight a cycle with this anchor day starts in (year, month): the anchor clamped to the month. */
export function boundaryIn(year: number, month: number, anchorDay: number): number {
  const y = year + Math.floor(month / 12);
  const m = ((month % 12) + 12) % 12;
  return Date.UTC(y, m, Math.min(anchorDay, daysIn(y, m)));
}

export const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/** A payment provider that makes sessions and nothing else (payments have their own tests). */
export const FAKE_GATEWAY: PaymentGateway = {
  provider: 'sandbox',
  async createSession({ order }) {
    return { session: `cs_${order.id}`, url: `https://pay.example.test/${order.id}` };
  },
};

export interface BillingHarness {
  store: Store;
  clock: TestClock;
  ctx: Context;
  api: ReturnType<typeof createCaller>;
  /** A workspace made through `admin.workspaces.create` at the clock's time. */
  createWorkspace(input: { plan: PlanId; anchorDay?: number }): Promise<string>;
  /** The AI Tokens plan allowance lots (top-ups included), oldest first. */
  allowanceLots(workspaceId: string): Promise<Lot[]>;
  /** One sweeper pass at the clock's time (a fresh sweeper state unless given one). */
  sweep(opts?: SweepOptions): Promise<SweepResult>;
  /** Forget what the server's cycle keeper remembers (as after a restart). */
  forgetCycle(workspaceId?: string): void;
  cleanup(): Promise<void>;
}

/**
 * A store of the given dialect with the default rules, a service caller with the admin scope
 * and a clock that starts at `start` and moves only when the test moves it. No workspace is
 * made: each test makes its own, with the plan and anchor day it needs. The cycle keeper is
 * new (it remembers nothing, as after a restart).
 */
export async function makeBillingApi(
  dialect: DialectFixture,
  opts: { start: number },
): Promise<BillingHarness> {
  const { store, cleanup } = await dialect.make();
  const clock = testClock(opts.start);
  const rules = new RulesService(store, { refreshMs: 0, clock: clock.now });
  await rules.seed(clock.now());
  const ctx: Context = {
    store,
    rules,
    ...workspaceServices({ store, clock: clock.now }),
    now: clock.now,
    caller: SERVICE_CALLER,
    config: { holdTtlMs: HOUR },
    payments: FAKE_GATEWAY,
  };
  const api = createCaller(ctx);
  return {
    store,
    clock,
    ctx,
    api,
    async createWorkspace({ plan, anchorDay }) {
      const r = await api.admin.workspaces.create({
        name: `Cycle ${plan}`,
        plan,
        billingAnchorDay: anchorDay,
        idempotencyKey: key('ws'),
      });
      return r.workspace.id;
    },
    async allowanceLots(workspaceId) {
      return (await store.lots({ workspaceId, wallet: 'ai_tokens' })).filter(
        (l) => l.source === 'plan_allowance',
      );
    },
    sweep(o = {}) {
      return sweepOnce(store, clock.now(), { cycles: ctx.cycles, state: newSweepState(), ...o });
    },
    forgetCycle(workspaceId?: string) {
      ctx.cycles.forget(workspaceId);
    },
    async cleanup() {
      await cleanup();
    },
  };
}
