import { createCaller, type RulesService } from '@credits/api';
import type { Store } from '@credits/store';

export const DEMO_WORKSPACE_ID = 'demo';

/**
 * The demo workspace: Pro plan (so it has the free video trial), with credits in every
 * wallet. Every write has a fixed idempotency key, so seeding twice changes nothing.
 */
export async function seedDemo(input: { store: Store; rules: RulesService; now: number }) {
  const caller = createCaller({
    store: input.store,
    rules: input.rules,
    now: () => input.now,
    caller: { kind: 'service', id: 'system:seed', scopes: ['admin'] },
    config: { holdTtlMs: 3_600_000 },
  });
  const created = await caller.admin.workspaces.create({
    id: DEMO_WORKSPACE_ID,
    name: 'Demo workspace',
    plan: 'pro',
    idempotencyKey: 'seed-demo-workspace',
  });
  const grants = [
    { wallet: 'ai_tokens', amount: 1_000_000, source: 'plan_allowance', reason: 'Pro plan AI Tokens' },
    { wallet: 'image_credits', amount: 500, source: 'purchase', reason: 'Image Credits pack (demo)' },
    { wallet: 'video_credits', amount: 200, source: 'purchase', reason: 'Video Credits pack (demo)' },
  ] as const;
  for (const g of grants) {
    await caller.admin.ledger.grant({
      workspaceId: DEMO_WORKSPACE_ID,
      wallet: g.wallet,
      amount: g.amount,
      source: g.source,
      reason: g.reason,
      idempotencyKey: `seed-demo-${g.wallet}`,
    });
  }
  return created.workspace;
}
