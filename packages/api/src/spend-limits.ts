import { CreditsError, cycleAt, headroom, type LimitScope, type WalletKind } from '@credits/domain';
import type { SpendLimit, Workspace } from '@credits/store';
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
