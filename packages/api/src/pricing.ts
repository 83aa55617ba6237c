import { CreditsError, usableBalance, walletForJob, type WalletKind } from '@credits/domain';
import type { Job, Priced, WorkspaceFacts } from '@credits/rules';
import type { Lot, PricedJob, Workspace } from '@credits/store';
import type { Context } from './trpc.js';
import type { ActiveRules } from './rules-service.js';
import { ensureCycle } from './cycle.js';

export interface PricedForWorkspace {
  workspace: Workspace;
  wallet: WalletKind;
  rules: ActiveRules;
  priced: Priced;
  /** The job's wallet's lots, when asked for (`withLots`); otherwise empty. */
  lots: Lot[];
  facts: WorkspaceFacts;
}

/** A short line for the ledger: what the job was. */
export function describeJob(job: Job): string {
  switch (job.kind) {
    case 'video':
      return `${job.type.replace('_', ' ')} video, ${job.durationSec} s at ${job.resolution}`;
    case 'image':
      return `${job.count} ${job.type.replace('_', ' ')} image${job.count === 1 ? '' : 's'}${job.quality ? ` (${job.quality})` : ''}`;
    case 'ai':
      return `AI usage, ${job.tokens} tokens`;
    case 'audio':
      return `audio${job.type ? ` ${job.type}` : ''}`;
  }
}

/**
 * Workspaces as pricing sees them (plan and features), cached for a second per process: a
 * price reads them on every quote and reserve. A plan change in this process drops the
 * entry at once; one made by another process shows within a second.
 */
const pricingCache = new Map<string, { at: number; workspace: Workspace }>();
const PRICING_CACHE_MS = 1000;

export function forgetWorkspace(workspaceId: string): void {
  pricingCache.delete(workspaceId);
}

async function workspaceForPricing(ctx: Context, workspaceId: string): Promise<Workspace> {
  const now = ctx.now();
  const hit = pricingCache.get(workspaceId);
  if (hit && now - hit.at >= 0 && now - hit.at < PRICING_CACHE_MS) return hit.workspace;
  const workspace = await loadWorkspace(ctx, workspaceId);
  if (pricingCache.size > 10_000) pricingCache.clear();
  pricingCache.set(workspaceId, { at: now, workspace });
  return workspace;
}

export async function loadWorkspace(ctx: Context, workspaceId: string): Promise<Workspace> {
  const ws = await ctx.store.getWorkspace(workspaceId);
  if (!ws) throw new CreditsError('WORKSPACE_NOT_FOUND', 'No such workspace.', { workspaceId });
  return ws;
}

/**
 * Price a job for a workspace under the active rules (or a given version). Refuses jobs of a
 * Coming Soon wallet and features the rules do not offer, so nothing is ever charged for them.
 */
export async function priceForWorkspace(
  ctx: Context,
  input: { workspaceId: string; job: Job; version?: number; withLots?: boolean },
): Promise<PricedForWorkspace> {
  const wallet = walletForJob(input.job.kind);
  const catalog = ctx.store.catalogSnapshot().find((c) => c.kind === wallet)!;
  const [workspace, rules] = await Promise.all([
    workspaceForPricing(ctx, input.workspaceId),
    input.version === undefined ? ctx.rules.current() : ctx.rules.version(input.version),
  ]);
  if (!catalog.available) {
    throw new CreditsError('COMING_SOON', `${catalog.label} are coming soon.`, {
      wallet,
      ruleVersion: rules.version,
    });
  }
  if (wallet === 'ai_tokens') await ensureCycle(ctx, workspace);
  // Read lots only when something needs them: a quote (the usable balance), or rules that
  // read the workspace's trial credits (which sit in the video wallet).
  const needTrial = rules.pricer.usesTrialRemaining;
  const [lots, videoLots] = await Promise.all([
    input.withLots ? ctx.store.lots({ workspaceId: workspace.id, wallet }) : Promise.resolve([]),
    needTrial && !(input.withLots && wallet === 'video_credits')
      ? ctx.store.lots({ workspaceId: workspace.id, wallet: 'video_credits' })
      : Promise.resolve(null),
  ]);
  const now = ctx.now();
  const trialRemaining = needTrial
    ? (videoLots ?? lots)
        .filter((l) => l.source === 'trial' && (l.expiresAt === null || l.expiresAt > now))
        .reduce((s, l) => s + l.remaining, 0)
    : 0;
  const facts: WorkspaceFacts = {
    plan: workspace.plan,
    features: workspace.features,
    trialRemaining,
  };
  const outcome = rules.pricer.price(input.job, facts);
  if (!outcome.ok) {
    throw new CreditsError(outcome.reason, outcome.message, {
      wallet,
      ruleVersion: outcome.ruleVersion,
    });
  }
  return { workspace, wallet, rules, priced: outcome, lots, facts };
}

/** Restrictions a priced job satisfies: trial lots pay only for jobs the trial accepts. */
export function restrictionsOf(priced: Priced): string[] {
  return priced.trialApplies ? ['trial'] : [];
}

export function toPricedJob(p: PricedForWorkspace, job: Job): PricedJob {
  return {
    wallet: p.wallet,
    kind: job.kind,
    job,
    credits: p.priced.credits,
    ruleVersion: p.priced.ruleVersion,
    breakdown: p.priced.breakdown,
    trialApplies: p.priced.trialApplies,
    restrictions: restrictionsOf(p.priced),
    description: describeJob(job),
  };
}

/** The credits this job may draw on now. */
export function usableFor(p: PricedForWorkspace, now: number): number {
  return usableBalance(p.lots, { now, restrictions: restrictionsOf(p.priced) });
}
