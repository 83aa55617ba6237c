import { describe, expect, it } from 'vitest';
import { historyRows } from './history-rows';
import type { LedgerEntry } from '../trpc';

let id = 0;
function entry(o: Partial<LedgerEntry> & Pick<LedgerEntry, 'type' | 'amount'>): LedgerEntry {
  id += 1;
  return {
    id,
    workspaceId: 'ws',
    wallet: 'video_credits',
    availableDelta: 0,
    heldDelta: 0,
    balanceAfter: 0,
    heldAfter: 0,
    jobId: null,
    orderId: null,
    ruleVersion: 1,
    actor: 'u',
    description: 'Hold for standard video, 5 s at 720p',
    lots: [],
    createdAt: 1_000 + id,
    ...o,
  } as LedgerEntry;
}

describe('historyRows', () => {
  it('folds a job (hold −50, spend −50) into one line that cost 50, not 100', () => {
    const hold = entry({ type: 'hold', amount: -50, jobId: 'j1' });
    const spend = entry({ type: 'spend', amount: -50, jobId: 'j1' });
    const grant = entry({ type: 'grant', amount: 200 });
    const rows = historyRows([grant, spend, hold].reverse().sort((a, b) => b.id - a.id));
    expect(rows.map((r) => [r.type, r.amount, r.steps.map((s) => s.type)])).toEqual([
      ['grant', 200, []],
      ['spend', -50, ['hold', 'spend']],
    ]);
    expect(rows[1]!.description).toBe('Standard video, 5 s at 720p');
  });

  it('a partial capture reads as its final cost; a failed job as 0 with everything returned', () => {
    const a = [
      entry({ type: 'hold', amount: -50, jobId: 'a' }),
      entry({ type: 'spend', amount: -40, jobId: 'a' }),
      entry({ type: 'return', amount: 10, jobId: 'a' }),
    ];
    const b = [
      entry({ type: 'hold', amount: -30, jobId: 'b' }),
      entry({ type: 'return', amount: 30, jobId: 'b' }),
    ];
    const running = [entry({ type: 'hold', amount: -20, jobId: 'c' })];
    const rows = historyRows([...a, ...b, ...running].reverse());
    expect(rows.map((r) => [r.head.jobId, r.type, r.amount, r.steps.length])).toEqual([
      ['c', 'hold', -20, 0],
      ['b', 'return', 0, 2],
      ['a', 'spend', -40, 3],
    ]);
  });

  it('leaves a refund of a job as its own line', () => {
    const rows = historyRows(
      [
        entry({ type: 'hold', amount: -50, jobId: 'r' }),
        entry({ type: 'spend', amount: -50, jobId: 'r' }),
        entry({ type: 'refund', amount: 20, jobId: 'r' }),
      ].reverse(),
    );
    expect(rows.map((r) => [r.type, r.amount])).toEqual([
      ['refund', 20],
      ['spend', -50],
    ]);
  });
});
