import { ref, type Ref } from 'vue';
import { useQueryClient } from '@tanstack/vue-query';
import { trpc, type Job } from '../trpc';

export type JobPhase =
  'idle' | 'reserving' | 'running' | 'settling' | 'completed' | 'failed' | 'error';

export interface JobOutcome {
  holdId: string;
  held: number;
  /** Credits finally spent (completed). */
  captured: number;
  /** Credits given back (failed, or the unspent part of a capture). */
  returned: number;
  trialApplies: boolean;
}

/**
 * Generate = reserve → run (a short timer standing in for the worker) → capture on success,
 * release on failure. Every write has its own idempotency key. Balances refresh after.
 */
export function useSimulatedJob(workspaceId: Ref<string | null>, runMs = 1200) {
  const qc = useQueryClient();
  const phase = ref<JobPhase>('idle');
  const outcome = ref<JobOutcome | null>(null);
  const error = ref<unknown>(null);

  async function refresh() {
    await Promise.all(
      ['wallets', 'quote', 'history', 'jobs', 'summary'].map((k) =>
        qc.invalidateQueries({ queryKey: [k] }),
      ),
    );
  }

  async function run(job: Job, opts: { fail: boolean }) {
    const ws = workspaceId.value;
    if (
      !ws ||
      phase.value === 'reserving' ||
      phase.value === 'running' ||
      phase.value === 'settling'
    )
      return;
    error.value = null;
    outcome.value = null;
    phase.value = 'reserving';
    try {
      const hold = await trpc.usage.reserve.mutate({
        workspaceId: ws,
        job,
        idempotencyKey: crypto.randomUUID(),
      });
      await refresh();
      phase.value = 'running';
      await new Promise((r) => setTimeout(r, runMs));
      phase.value = 'settling';
      if (opts.fail) {
        const r = await trpc.usage.release.mutate({
          workspaceId: ws,
          holdId: hold.holdId,
          idempotencyKey: crypto.randomUUID(),
        });
        outcome.value = {
          holdId: hold.holdId,
          held: hold.credits,
          captured: 0,
          returned: r.returned,
          trialApplies: hold.trialApplies,
        };
        phase.value = 'failed';
      } else {
        const r = await trpc.usage.capture.mutate({
          workspaceId: ws,
          holdId: hold.holdId,
          idempotencyKey: crypto.randomUUID(),
        });
        outcome.value = {
          holdId: hold.holdId,
          held: hold.credits,
          captured: r.captured,
          returned: r.returned,
          trialApplies: hold.trialApplies,
        };
        phase.value = 'completed';
      }
    } catch (e) {
      error.value = e;
      phase.value = 'error';
    } finally {
      await refresh();
    }
  }

  const busy = () =>
    phase.value === 'reserving' || phase.value === 'running' || phase.value === 'settling';
  /** Forget a finished job's result (its message belongs to the inputs it ran with). */
  function clearResult() {
    if (busy()) return;
    phase.value = 'idle';
    outcome.value = null;
    error.value = null;
  }
  return { phase, outcome, error, run, busy, clearResult };
}
