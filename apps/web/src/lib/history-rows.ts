import type { LedgerEntry } from '../trpc';

/** The entries a job's settlement writes: folded into one line of history. */
const JOB_STEPS = new Set<LedgerEntry['type']>(['hold', 'spend', 'return']);

/**
 * One line of the history table: a plain entry, or a job's hold, spend and returned credits
 * folded into one line that shows the job's final amount (a hold of 50 then a spend of 50 is
 * one job that cost 50, not 100 spent).
 */
export interface HistoryRow {
  key: string;
  /** The newest entry of the line (time, wallet, balance after). */
  head: LedgerEntry;
  /** What the line reads as: `spend` (the job finished), `return` (all came back), `hold` (running). */
  type: LedgerEntry['type'];
  /** Signed amount as the user reads it: the job's final cost, or the entry's own amount. */
  amount: number;
  description: string;
  /** The job's entries, oldest first (empty for a plain entry). */
  steps: LedgerEntry[];
}

/** Fold each job's entries (within these items, newest first) into one row at its newest entry. */
export function historyRows(items: readonly LedgerEntry[]): HistoryRow[] {
  const byJob = new Map<string, LedgerEntry[]>();
  for (const e of items) {
    if (!e.jobId || !JOB_STEPS.has(e.type)) continue;
    const list = byJob.get(e.jobId) ?? [];
    list.push(e);
    byJob.set(e.jobId, list);
  }
  const rows: HistoryRow[] = [];
  const done = new Set<string>();
  for (const e of items) {
    const group = e.jobId && JOB_STEPS.has(e.type) ? byJob.get(e.jobId) : undefined;
    if (!group || group.length < 2) {
      rows.push({
        key: `e${e.id}`,
        head: e,
        type: e.type,
        amount: e.amount,
        description: e.description,
        steps: [],
      });
      continue;
    }
    if (done.has(e.jobId!)) continue;
    done.add(e.jobId!);
    const steps = [...group].sort((a, b) => a.createdAt - b.createdAt || a.id - b.id);
    const spent = steps.filter((s) => s.type === 'spend');
    const held = steps.filter((s) => s.type === 'hold');
    const returned = steps.filter((s) => s.type === 'return');
    const sum = (list: LedgerEntry[]) => list.reduce((n, s) => n + s.amount, 0);
    let type: LedgerEntry['type'];
    let amount: number;
    if (spent.length > 0) {
      type = 'spend';
      amount = sum(spent);
    } else if (returned.length > 0) {
      type = 'return';
      amount = sum(held) + sum(returned);
    } else {
      type = 'hold';
      amount = sum(held);
    }
    rows.push({
      key: `j${e.jobId}`,
      head: e,
      type,
      amount,
      description: jobDescription((held[0] ?? steps[0]!).description),
      steps,
    });
  }
  return rows;
}

/** "Hold for standard video, 5 s at 720p" → "Standard video, 5 s at 720p": the line is the job. */
function jobDescription(text: string): string {
  const what = text.replace(/^Hold for /, '');
  return what.charAt(0).toUpperCase() + what.slice(1);
}
