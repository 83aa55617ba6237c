import { randomUUID } from 'node:crypto';
import { WALLET_KINDS, type WalletKind } from '@credits/domain';
import type { PricedJob, Store } from '../src/types.js';

export const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);

let counter = 0;
export function key(): string {
  counter += 1;
  return `k-${counter}-${randomUUID()}`;
}

export async function workspace(store: Store, overrides: { id?: string; now?: number } = {}) {
  return store.createWorkspace({
    id: overrides.id,
    name: 'Test workspace',
    plan: 'pro',
    billingAnchorDay: 15,
    wallets: WALLET_KINDS,
    now: overrides.now ?? T0,
    idempotencyKey: key(),
    requestHash: 'h',
  });
}

/** A job priced at a fixed cost: the store never prices, it moves what it is told. */
export function priced(
  credits: number,
  opts: { wallet?: WalletKind; restrictions?: string[]; kind?: string } = {},
): PricedJob {
  const wallet = opts.wallet ?? 'video_credits';
  return {
    wallet,
    kind:
      opts.kind ?? (wallet === 'image_credits' ? 'image' : wallet === 'ai_tokens' ? 'ai' : 'video'),
    job: { kind: 'video', type: 'standard', durationSec: 5, resolution: '720p' },
    credits,
    ruleVersion: 1,
    breakdown: [{ label: 'fixed', type: 'flat', credits }],
    trialApplies: (opts.restrictions ?? []).includes('trial'),
    restrictions: opts.restrictions ?? [],
    description: 'Test job',
  };
}

export async function grant(
  store: Store,
  workspaceId: string,
  amount: number,
  opts: {
    wallet?: WalletKind;
    source?: 'plan_allowance' | 'purchase' | 'trial' | 'promo' | 'adjustment';
    expiresAt?: number | null;
    restriction?: string | null;
    now?: number;
  } = {},
) {
  return store.grant({
    workspaceId,
    wallet: opts.wallet ?? 'video_credits',
    amount,
    source: opts.source ?? 'purchase',
    expiresAt: opts.expiresAt ?? null,
    restriction: opts.restriction ?? null,
    description: 'Test grant',
    actor: 'test',
    now: opts.now ?? T0,
    idempotencyKey: key(),
    requestHash: 'h',
  });
}

export function write(workspaceId: string, now = T0) {
  return { workspaceId, actor: 'test', now, idempotencyKey: key(), requestHash: 'h' };
}

/** Settle a promise, keeping the outcome instead of throwing. */
export async function outcome<T>(
  p: Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; reason: string }> {
  try {
    return { ok: true, value: await p };
  } catch (e) {
    return { ok: false, reason: (e as { reason?: string }).reason ?? String(e) };
  }
}

/** What a provider's `paid` event reports for an order: its own price, currency and id. */
export async function paymentOf(store: Store, orderId: string) {
  const order = await store.billing.order({ orderId });
  if (!order) throw new Error(`no order ${orderId}`);
  return { amount: order.priceCents, currency: order.currency, reference: order.id };
}
