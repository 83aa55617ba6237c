import type { Store } from '@credits/store';
import { CycleService } from './cycle.js';
import { WorkspaceCache } from './workspace-cache.js';

/**
 * The per-server state procedures share, built once by whoever builds the tRPC context (the
 * server, a CLI command, a test): the workspace cache pricing reads, and the cycle keeper
 * that tells it when a plan changes.
 *
 * @example
 * const ctx: Context = { store, rules, ...workspaceServices({ store, clock }), now: clock, … };
 */
export function workspaceServices(input: { store: Store; clock: () => number }): {
  cycles: CycleService;
  workspaces: WorkspaceCache;
} {
  const workspaces = new WorkspaceCache(input.store);
  return { workspaces, cycles: new CycleService({ ...input, workspaces }) };
}
