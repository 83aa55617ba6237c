import { CreditsError } from '@credits/domain';
import type { Store, Workspace } from '@credits/store';

/** How long a workspace read for pricing is trusted (another process may change its plan). */
export const WORKSPACE_CACHE_MS = 1000;

/**
 * Workspaces as pricing sees them (plan and features), kept for a second: a price reads them
 * on every quote and reserve. A plan change in this process drops the entry at once
 * ({@link WorkspaceCache.forget}); one made by another process shows within a second. One
 * instance per server (or test), owned by whoever builds the tRPC context.
 */
export class WorkspaceCache {
  private readonly entries = new Map<string, { at: number; workspace: Workspace }>();

  constructor(
    private readonly store: Store,
    private readonly ttlMs = WORKSPACE_CACHE_MS,
  ) {}

  /** The workspace, from the cache when read less than `ttlMs` before `now`. */
  async get(workspaceId: string, now: number): Promise<Workspace> {
    const hit = this.peek(workspaceId, now);
    if (hit) return hit;
    const workspace = await loadWorkspace(this.store, workspaceId);
    if (this.entries.size > 10_000) this.entries.clear();
    this.entries.set(workspaceId, { at: now, workspace });
    return workspace;
  }

  /** What {@link get} would answer from the cache now, without awaiting; undefined on a miss. */
  peek(workspaceId: string, now: number): Workspace | undefined {
    const hit = this.entries.get(workspaceId);
    if (hit && now - hit.at >= 0 && now - hit.at < this.ttlMs) return hit.workspace;
    return undefined;
  }

  /** Forget a workspace (its plan changed here), or every one. */
  forget(workspaceId?: string): void {
    if (workspaceId === undefined) this.entries.clear();
    else this.entries.delete(workspaceId);
  }
}

/** The workspace as stored now, or WORKSPACE_NOT_FOUND. */
export async function loadWorkspace(
  store: Pick<Store, 'getWorkspace'>,
  workspaceId: string,
): Promise<Workspace> {
  const ws = await store.getWorkspace(workspaceId);
  if (!ws) throw new CreditsError('WORKSPACE_NOT_FOUND', 'No such workspace.', { workspaceId });
  return ws;
}
