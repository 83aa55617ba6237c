import {
  CreditsError,
  checkLimits,
  cycleAt,
  headroom,
  limitActionFor,
  type LimitAction,
  type LimitScope,
  type LimitUsage,
  type WalletKind,
} from '@credits/domain';
import type { Role, SpendLimit, Workspace } from '@credits/store';
import type { Context } from './trpc.js';

/** The actor id a job records for a member or a key (as the auth middleware names callers). */
export function actorOf(scope: Exclude<LimitScope, 'workspace'>, subjectId: string): string {
  return scope === 'member' ? `user:${subjectId}` : `key:${subjectId}`;
}

/** A limit as people read it: whom it covers, what counts against it, what is left. */
export interface LimitView {
  wallet: WalletKind;
  scope: LimitScope;
  subjectId: string | null;
  /** "Whole workspace", a member's name, or a key's name. */
  subjectLabel: string;
  amount: number;
  mode: 'hard' | 'soft';
  thresholds: number[];
  /** Spent this cycle by the jobs the limit covers. */
  used: number;
  /** Held now by their open holds. */
  held: number;
  /** What a job may still take (0 when used + held reach the amount). */
  remaining: number;
  /** Thresholds already alerted this cycle. */
  alerted: number[];
  updatedBy: string;
  updatedAt: number;
}

/** Names for the subjects of limits: members by name (or email), keys by name. */
export async function subjectLabels(
  ctx: Context,
  workspaceId: string,
): Promise<(scope: LimitScope, subjectId: string | null) => string> {
  const [members, keys] = await Promise.all([
    ctx.store.accounts.members(workspaceId),
    ctx.store.accounts.apiKeys({ workspaceId }),
  ]);
  const member = new Map(members.map((m) => [m.userId, m.name || m.email]));
  const key = new Map(keys.map((k) => [k.id, k.revokedAt ? `${k.name} (revoked)` : k.name]));
  return (scope, subjectId) => {
    if (scope === 'workspace' || subjectId === null) return 'Whole workspace';
    if (scope === 'member') return member.get(subjectId) ?? 'Former member';
    return key.get(subjectId) ?? 'Deleted key';
  };
}

/** The billing cycle limits count in (the plan's cycle, from the workspace's anchor day). */
export function limitCycle(ctx: Context, workspace: Workspace) {
  return cycleAt({ anchorDay: workspace.billingAnchorDay, now: ctx.now() });
}

/**
 * Every limit of a workspace (or of one wallet) with its usage this cycle: a workspace limit
 * counts every job of the wallet; a member's or key's only the jobs they reserved or charged.
 */
export async function limitViews(
  ctx: Context,
  workspace: Workspace,
  wallet?: WalletKind,
): Promise<LimitView[]> {
  const cycle = limitCycle(ctx, workspace);
  const [limits, alerts, label] = await Promise.all([
    ctx.store.spendLimits.list({ workspaceId: workspace.id, wallet }),
    ctx.store.spendLimits.alerts({ workspaceId: workspace.id, cycleKey: cycle.key }),
    subjectLabels(ctx, workspace.id),
  ]);
  const wallets = [...new Set(limits.map((l) => l.wallet))];
  const usage = new Map(
    await Promise.all(
      wallets.map(
        async (w) =>
          [
            w,
            await ctx.store.spendLimits.usageByActor({
              workspaceId: workspace.id,
              wallet: w,
              since: cycle.start,
            }),
          ] as const,
      ),
    ),
  );
  return limits.map((l: SpendLimit) => {
    const actors = usage.get(l.wallet) ?? [];
    const counted =
      l.scope === 'workspace' || l.subjectId === null
        ? actors
        : actors.filter((a) => a.actor === actorOf(l.scope as 'member' | 'key', l.subjectId!));
    const used = counted.reduce((s, a) => s + a.used, 0);
    const held = counted.reduce((s, a) => s + a.held, 0);
    return {
      wallet: l.wallet,
      scope: l.scope,
      subjectId: l.subjectId,
      subjectLabel: label(l.scope, l.subjectId),
      amount: l.amount,
      mode: l.mode,
      thresholds: [...l.thresholds],
      used,
      held,
      remaining: headroom({ amount: l.amount, used, held }),
      alerted: alerts
        .filter((a) => a.wallet === l.wallet && a.scope === l.scope && a.subjectId === l.subjectId)
        .map((a) => a.threshold),
      updatedBy: l.updatedBy,
      updatedAt: l.updatedAt,
    };
  });
}

/** A limit's subject must be a member of the workspace, or one of its live keys. */
export async function checkSubject(
  ctx: Context,
  input: { workspaceId: string; scope: LimitScope; subjectId?: string | null },
): Promise<string | null> {
  if (input.scope === 'workspace') {
    if (input.subjectId)
      throw new CreditsError('VALIDATION', 'A workspace limit names no member or key.', {
        field: 'subjectId',
      });
    return null;
  }
  const subjectId = input.subjectId;
  if (!subjectId)
    throw new CreditsError('VALIDATION', `Name the ${input.scope} this limit is for.`, {
      field: 'subjectId',
    });
  if (input.scope === 'member') {
    const role = await ctx.store.accounts.role({
      workspaceId: input.workspaceId,
      userId: subjectId,
    });
    if (!role)
      throw new CreditsError('VALIDATION', 'No member with this id in this workspace.', {
        field: 'subjectId',
      });
  } else {
    const keys = await ctx.store.accounts.apiKeys({ workspaceId: input.workspaceId });
    if (!keys.some((k) => k.id === subjectId && k.revokedAt === null))
      throw new CreditsError('VALIDATION', 'No live API key with this id in this workspace.', {
        field: 'subjectId',
      });
  }
  return subjectId;
}

/** What a refused caller is offered: owners (and admins) raise the limit, everyone else asks an owner. */
export function limitAction(ctx: Context & { role?: Role | null }): LimitAction {
  const admin =
    ctx.caller?.kind === 'user'
      ? ctx.caller.isAdmin
      : ctx.caller?.kind === 'service' && ctx.caller.scopes.includes('admin');
  return limitActionFor(ctx.role ?? null, admin);
}

/**
 * Run a money operation; a SPEND_LIMIT_REACHED refusal from the store gains the action to
 * offer this caller (the store knows the limit, not who is asking).
 */
export async function withLimitAction<T>(
  ctx: Context & { role?: Role | null },
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof CreditsError && e.reason === 'SPEND_LIMIT_REACHED') {
      throw new CreditsError(e.reason, e.message, { ...e.details, action: limitAction(ctx) });
    }
    throw e;
  }
}

/** A quote's word on limits: would one refuse this job now, and what then to offer. */
export interface QuoteLimit {
  wouldRefuse: boolean;
  scope: LimitScope;
  subjectId: string | null;
  limit: number;
  used: number;
  held: number;
  needed: number;
  resetsAt: number;
  action: LimitAction | null;
}

/**
 * For a quote: check the job against every limit that applies to the caller (reads only).
 * Null when no limit applies; otherwise the tightest one (the one that would refuse, or the
 * one with the least room left).
 */
export async function quoteLimit(
  ctx: Context & { role?: Role | null },
  workspace: Workspace,
  wallet: WalletKind,
  needed: number,
): Promise<QuoteLimit | null> {
  const limits = await ctx.store.spendLimits.list({ workspaceId: workspace.id, wallet });
  const actor = ctx.caller?.id;
  const applicable = limits.filter(
    (l) =>
      l.scope === 'workspace' || (l.subjectId !== null && actorOf(l.scope, l.subjectId) === actor),
  );
  if (applicable.length === 0) return null;
  const cycle = limitCycle(ctx, workspace);
  const usage = await ctx.store.spendLimits.usageByActor({
    workspaceId: workspace.id,
    wallet,
    since: cycle.start,
  });
  const withUsage: LimitUsage[] = applicable.map((l) => {
    const counted =
      l.scope === 'workspace'
        ? usage
        : usage.filter((a) => a.actor === actorOf(l.scope as 'member' | 'key', l.subjectId!));
    return {
      ...l,
      used: counted.reduce((s, a) => s + a.used, 0),
      held: counted.reduce((s, a) => s + a.held, 0),
    };
  });
  const verdict = checkLimits({ limits: withUsage, needed });
  if (!verdict.ok) {
    return {
      wouldRefuse: true,
      ...verdict.refusal,
      resetsAt: cycle.end,
      action: limitAction(ctx),
    };
  }
  const tightest = withUsage
    .filter((l) => l.mode === 'hard')
    .sort((a, b) => headroom(a) - headroom(b))[0];
  const shown = tightest ?? withUsage[0]!;
  return {
    wouldRefuse: false,
    scope: shown.scope,
    subjectId: shown.subjectId,
    limit: shown.amount,
    used: shown.used,
    held: shown.held,
    needed,
    resetsAt: cycle.end,
    action: null,
  };
}
