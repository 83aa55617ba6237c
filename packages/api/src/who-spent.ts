import { CreditsError, type WalletKind } from '@credits/domain';
import type { ActorSpend, Store } from '@credits/store';
import { mayAccess, type Caller } from './trpc.js';

/**
 * "Who spent what" (issue 14): usage filtered and grouped by member and by API key. A job's
 * entries belong to the actor who reserved or charged it (`user:<id>`, `key:<id>`), as
 * spending limits count them, whoever settled or refunded it.
 */

export type GroupBy = 'member' | 'apiKey';

/**
 * The actor that `member` (a user id) or `apiKey` (a key id) names, or undefined for neither.
 * Both at once is a VALIDATION error (a job has one actor). Filtering or grouping by key needs
 * what listing the workspace's keys needs (owners and admins; `workspaces.keys.list`): a
 * key's name and its spend are the owners' business. Members may filter and group by member
 * (they may read the members list and the whole history already).
 */
export async function actorFilter(
  deps: { store: Store },
  caller: Caller,
  input: { workspaceId: string; member?: string; apiKey?: string; groupBy?: GroupBy },
): Promise<string | undefined> {
  if (input.member !== undefined && input.apiKey !== undefined)
    throw new CreditsError('VALIDATION', 'Filter by a member or by an API key, not both.', {
      field: 'apiKey',
    });
  if (input.apiKey !== undefined || input.groupBy === 'apiKey') {
    const { ok } = await mayAccess(deps, caller, input.workspaceId, 'owner');
    if (!ok)
      throw new CreditsError('FORBIDDEN', 'Only workspace owners may see usage by API key.', {
        field: input.apiKey !== undefined ? 'apiKey' : 'groupBy',
      });
  }
  if (input.member !== undefined) return `user:${input.member}`;
  if (input.apiKey !== undefined) return `key:${input.apiKey}`;
  return undefined;
}

/** One member's or key's spend in a window (or everyone else's, `id` null). */
export interface SpendGroup {
  /** The user id or key id; null for the spend of everyone the grouping does not name. */
  id: string | null;
  /** A member's name (or email), a key's name; or what the rest is. */
  label: string;
  /** A named member's email, or a key's prefix; null otherwise. */
  detail: string | null;
  /** Credits spent, all wallets. */
  total: number;
  /** Credits spent per wallet, largest first. */
  wallets: { wallet: WalletKind; spent: number }[];
}

/** What the spend of callers the grouping does not name is called. */
export const OTHERS: Record<GroupBy, string> = {
  member: 'API keys and services',
  apiKey: 'Members (not through a key)',
};

/**
 * Sum spend entries per member or per key (everything else in one group with id null), the
 * largest spender first. The groups add up to exactly the entries given.
 */
export async function spendGroups(
  store: Store,
  workspaceId: string,
  entries: readonly ActorSpend[],
  groupBy: GroupBy,
): Promise<SpendGroup[]> {
  const prefix = groupBy === 'member' ? 'user:' : 'key:';
  const sums = new Map<string | null, Map<WalletKind, number>>();
  for (const e of entries) {
    const id = e.actor.startsWith(prefix) ? e.actor.slice(prefix.length) : null;
    const wallets = sums.get(id) ?? new Map<WalletKind, number>();
    wallets.set(e.wallet, (wallets.get(e.wallet) ?? 0) + e.amount);
    sums.set(id, wallets);
  }
  if (sums.size === 0) return [];
  const names = new Map<string, { label: string; detail: string | null }>();
  if (groupBy === 'member') {
    for (const m of await store.accounts.members(workspaceId))
      names.set(m.userId, { label: m.name || m.email, detail: m.name ? m.email : null });
  } else {
    for (const k of await store.accounts.apiKeys({ workspaceId }))
      names.set(k.id, {
        label: k.revokedAt ? `${k.name} (revoked)` : k.name,
        detail: k.prefix,
      });
  }
  const unnamed = groupBy === 'member' ? 'Former member' : 'Deleted or platform key';
  const groups = [...sums].map(([id, wallets]): SpendGroup => {
    const name = id === null ? null : names.get(id);
    return {
      id,
      label: id === null ? OTHERS[groupBy] : (name?.label ?? unnamed),
      detail: name?.detail ?? null,
      total: [...wallets.values()].reduce((s, n) => s + n, 0),
      wallets: [...wallets]
        .map(([wallet, spent]) => ({ wallet, spent }))
        .sort((a, b) => b.spent - a.spent || a.wallet.localeCompare(b.wallet)),
    };
  });
  // The rest last; otherwise the largest spender first, then by name.
  return groups.sort(
    (a, b) =>
      Number(a.id === null) - Number(b.id === null) ||
      b.total - a.total ||
      a.label.localeCompare(b.label),
  );
}
