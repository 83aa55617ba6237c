import type { Job, JobKind, WorkspaceFacts } from './job.js';
import type { PriceOutcome, Pricer, Unavailable } from './types.js';

export interface SimulationJob {
  id: string;
  workspaceId: string;
  job: Job;
  workspace: WorkspaceFacts;
}

/** A price as simulation reports it: credits, or the reason the job is not offered. */
export type SimulatedPrice = number | Unavailable['reason'];

export interface SimulationChange {
  id: string;
  workspaceId: string;
  kind: JobKind;
  before: SimulatedPrice;
  after: SimulatedPrice;
}

export interface SimulationReport {
  /** Jobs priced under both rule sets. */
  jobsRepriced: number;
  /** All jobs whose price or availability changed (the `changed` list may be capped). */
  changedCount: number;
  /** The first `changedLimit` changed jobs, in input order. */
  changed: SimulationChange[];
  /** Σ (after − before) credits; an unavailable job counts as 0 credits. */
  creditsDelta: number;
  /** creditsDelta per job kind, for every kind among the jobs. */
  deltaByKind: Record<string, number>;
  /** Workspaces with the largest |delta|, largest first (ties: workspace id). */
  topWorkspaces: { workspaceId: string; delta: number }[];
}

const summarize = (o: PriceOutcome): SimulatedPrice => (o.ok ? o.credits : o.reason);
const creditsOf = (o: PriceOutcome): number => (o.ok ? o.credits : 0);

/**
 * Replays jobs under the active and the draft rule sets: which prices change, the credit delta
 * in total and per kind, and the workspaces most affected. Pure: the caller picks the jobs
 * (recent ones, or a sample).
 */
export function simulate(input: {
  jobs: readonly SimulationJob[];
  draft: Pricer;
  active: Pricer;
  /** Cap on `changed` (default 200). */
  changedLimit?: number;
  /** Cap on `topWorkspaces` (default 10). */
  topLimit?: number;
}): SimulationReport {
  const { jobs, draft, active } = input;
  const changedLimit = input.changedLimit ?? 200;
  const topLimit = input.topLimit ?? 10;
  const changed: SimulationChange[] = [];
  const deltaByKind: Record<string, number> = {};
  const byWorkspace = new Map<string, number>();
  let changedCount = 0;
  let creditsDelta = 0;
  for (const j of jobs) {
    const before = active.price(j.job, j.workspace);
    const after = draft.price(j.job, j.workspace);
    const delta = creditsOf(after) - creditsOf(before);
    deltaByKind[j.job.kind] = (deltaByKind[j.job.kind] ?? 0) + delta;
    creditsDelta += delta;
    const b = summarize(before);
    const a = summarize(after);
    if (a !== b) {
      changedCount++;
      if (changed.length < changedLimit) {
        changed.push({
          id: j.id,
          workspaceId: j.workspaceId,
          kind: j.job.kind,
          before: b,
          after: a,
        });
      }
      byWorkspace.set(j.workspaceId, (byWorkspace.get(j.workspaceId) ?? 0) + delta);
    }
  }
  const topWorkspaces = [...byWorkspace]
    .map(([workspaceId, delta]) => ({ workspaceId, delta }))
    .sort(
      (x, y) =>
        Math.abs(y.delta) - Math.abs(x.delta) ||
        (x.workspaceId < y.workspaceId ? -1 : x.workspaceId > y.workspaceId ? 1 : 0),
    )
    .slice(0, topLimit);
  return {
    jobsRepriced: jobs.length,
    changedCount,
    changed,
    creditsDelta,
    deltaByKind,
    topWorkspaces,
  };
}
