import {
  CreditsError,
  allocate,
  usableBalance,
  walletForJob,
  type WalletKind,
} from '@credits/domain';
import type { Job, Priced, WorkspaceFacts } from '@credits/rules';
import type { Lot, PricedJob, Workspace } from '@credits/store';
import type { Context } from './trpc.js';
import type { ActiveRules } from './rules-service.js';

export interface PricedForWorkspace {
  workspace: Workspace;
  wallet: WalletKind;
  rules: ActiveRules;
  priced: Priced;
  /** The job's wallet's lots, for a quote (`quote`); otherwise empty. */
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
 * Price a job for a workspace under the active rules (or a given version). Refuses jobs of a
 * Coming Soon wallet and features the rules do not offer, so nothing is ever charged for them.
 * Writes nothing: a router that is about to spend AI Tokens ensures the cycle's allowance
 * first (`ctx.cycles.ensure`), explicitly (see routers/usage.ts).
 */
export async function priceForWorkspace(
  ctx: Context,
  input: {
    workspaceId: string;
    job: Job;
    version?: number;
    /**
     * A quote: read the job's wallet's lots (for the usable balance) and write nothing — a
     * cycle boundary nobody has granted yet is priced as {@link CycleService.preview} says it
     * will be (its allowance counted, a pending downgrade applied), never granted here.
     */
    quote?: boolean;
  },
): Promise<PricedForWorkspace> {
  const wallet = walletForJob(input.job.kind);
  const catalog = ctx.store.catalogSnapshot().find((c) => c.kind === wallet)!;
  const now = ctx.now();
  const rulesNow = () =>
    input.version === undefined ? ctx.rules.current() : ctx.rules.version(input.version);
  // The workspace cached (nearly every call): only the rules are awaited.
  const cached = ctx.workspaces.peek(input.workspaceId, now);
  const [stored, rules] = cached
    ? [cached, await rulesNow()]
    : await Promise.all([ctx.workspaces.get(input.workspaceId, now), rulesNow()]);
  if (!catalog.available) {
    throw new CreditsError('COMING_SOON', `${catalog.label} are coming soon.`, {
      wallet,
      ruleVersion: rules.version,
    });
  }
  let workspace = stored;
  let pendingAllowance: Lot | null = null;
  if (wallet === 'ai_tokens' && input.quote) {
    const preview = await ctx.cycles.preview(stored, now);
    if (preview.plan !== stored.plan)
      workspace = { ...stored, plan: preview.plan, features: preview.features ?? stored.features };
    if (preview.allowance) pendingAllowance = allowanceLot(stored, preview.allowance, now);
  }
  // Read lots only when something needs them: a quote (the usable balance), or rules that
  // read the workspace's trial credits (which sit in the video wallet).
  const needTrial = rules.pricer.usesTrialRemaining;
  const readVideoLots = needTrial && !(input.quote && wallet === 'video_credits');
  let lots: Lot[] = [];
  let videoLots: Lot[] | null = null;
  // A reserve or charge under rules that never read the trial reads no lots (and awaits nothing).
  if (input.quote || readVideoLots) {
    [lots, videoLots] = await Promise.all([
      input.quote ? ctx.store.lots({ workspaceId: workspace.id, wallet }) : Promise.resolve([]),
      readVideoLots
        ? ctx.store.lots({ workspaceId: workspace.id, wallet: 'video_credits' })
        : Promise.resolve(null),
    ]);
  }
  if (pendingAllowance) lots.push(pendingAllowance);
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

/** The allowance lot a quote counts before the cycle keeper has granted it (never stored). */
function allowanceLot(
  workspace: Workspace,
  a: { amount: number; expiresAt: number; cycleKey: string },
  now: number,
): Lot {
  return {
    id: `pending-allowance:${a.cycleKey}`,
    workspaceId: workspace.id,
    wallet: 'ai_tokens',
    source: 'plan_allowance',
    granted: a.amount,
    remaining: a.amount,
    expiresAt: a.expiresAt,
    restriction: null,
    orderId: null,
    cycleKey: a.cycleKey,
    createdAt: now,
    expiredAt: null,
  };
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

/**
 * How many of a quoted job's credits trial lots would pay if it were reserved now: the job
 * drawn from the quote's lots in spend order (SPEC 3). 0 when the rules do not accept the
 * job for the trial, when no usable trial credits are left, or when the wallet is short.
 */
export function trialShare(p: PricedForWorkspace, now: number): number {
  if (!p.priced.trialApplies || p.priced.credits === 0) return 0;
  const drawn = allocate({
    lots: p.lots,
    amount: p.priced.credits,
    ctx: { now, restrictions: restrictionsOf(p.priced) },
  });
  if (!drawn.ok) return 0;
  const trialLots = new Set(p.lots.filter((l) => l.source === 'trial').map((l) => l.id));
  return drawn.allocations.reduce((s, a) => (trialLots.has(a.lotId) ? s + a.amount : s), 0);
}
