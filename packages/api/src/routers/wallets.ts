import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { CreditsError } from '@credits/domain';
import { workspaceProcedure } from '../trpc.js';
import type { Context } from '../trpc.js';
import { walletSchema, workspaceIdSchema } from '../schemas.js';
import { loadWorkspace } from '../workspace-cache.js';
import { balanceBuys, sortWallets, walletView, type WalletView } from '../wallet-view.js';

/** Balances as of now: lots past expiry are expired first (once), so no stale credit shows. */
export async function listWallets(ctx: Context, workspaceId: string): Promise<WalletView[]> {
  const ws = await loadWorkspace(ctx.store, workspaceId);
  const cycle = await ctx.cycles.ensure(ws, ctx.now());
  const now = ctx.now();
  if (await ctx.store.hasDueLots({ workspaceId, now })) {
    await ctx.store.expireLots({ now, workspaceId });
  }
  const [balances, videoLots, rules, plan, usage, thresholds] = await Promise.all([
    ctx.store.wallets(workspaceId),
    ctx.store.lots({ workspaceId, wallet: 'video_credits' }),
    ctx.rules.current(),
    // The plan the cycle keeper went by: a reset it just found may have applied a pending downgrade.
    ctx.store.billing.plan(cycle.plan),
    ctx.store.billing.cycleUsage({ workspaceId, cycleKey: cycle.key, since: cycle.start }),
    ctx.store.billing.lowThresholds(workspaceId),
  ]);
  const own = new Map(thresholds.map((t) => [t.wallet, t.lowThreshold] as const));
  const catalog = ctx.store.catalogSnapshot();
  const trialRemaining = videoLots
    .filter((l) => l.source === 'trial' && (l.expiresAt === null || l.expiresAt > now))
    .reduce((s, l) => s + l.remaining, 0);
  const facts = { plan: cycle.plan, features: ws.features, trialRemaining };
  return sortWallets(
    balances.map((balance) => {
      const view = walletView({
        balance,
        catalog: catalog.find((c) => c.kind === balance.kind)!,
        lowThreshold: own.get(balance.kind),
        cycle: {
          usedThisCycle: usage.usedThisCycle,
          planLimit: plan?.aiTokensPerCycle ?? usage.planLimit,
          resetsAt: cycle.end,
        },
        videoLots,
        rules: rules.document,
        plan: cycle.plan,
        now,
      });
      if (view.status === 'coming_soon') return view;
      const buys = balanceBuys({
        kind: balance.kind,
        available: balance.available,
        pricer: rules.pricer,
        facts,
      });
      return buys ? { ...view, buys } : view;
    }),
  );
}

export const walletsRouter = {
  list: workspaceProcedure('read')
    .input(z.object({ workspaceId: workspaceIdSchema }).strict())
    .query(async ({ ctx, input }) => ({
      workspaceId: input.workspaceId,
      wallets: await listWallets(ctx, input.workspaceId),
    })),

  get: workspaceProcedure('read')
    .input(z.object({ workspaceId: workspaceIdSchema, wallet: walletSchema }).strict())
    .query(async ({ ctx, input }) => {
      const wallet = (await listWallets(ctx, input.workspaceId)).find(
        (w) => w.kind === input.wallet,
      );
      if (!wallet)
        throw new CreditsError('NOT_FOUND', 'This workspace has no such wallet.', {
          wallet: input.wallet,
        });
      return wallet;
    }),
} satisfies TRPCRouterRecord;
