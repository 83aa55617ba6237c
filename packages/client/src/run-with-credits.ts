import type { CreditsClient, RouterInputs, RouterOutputs } from './create-credits-client.js';

type Job = RouterInputs['usage']['reserve']['job'];
type Hold = RouterOutputs['usage']['reserve'];

export interface WorkResult<T> {
  /** What the work produced. */
  value: T;
  /** The job that actually ran, if it differs from the one reserved (a shorter video…). */
  actual?: Job;
}

/**
 * Reserve credits for a job, run `work`, then capture on success or release on failure.
 * Capture and release reuse keys derived from `idempotencyKey`, so a retried call settles
 * the same hold once. A hold is never left behind when `work` throws: it is released (and
 * if even that fails, the hold expires after its TTL and its credits return).
 *
 * @example
 * const { value } = await runWithCredits(credits, { workspaceId, job, idempotencyKey: jobId },
 *   async (hold) => ({ value: await renderVideo(hold.holdId) }));
 */
export async function runWithCredits<T>(
  client: CreditsClient,
  input: { workspaceId: string; job: Job; idempotencyKey: string; ttlSec?: number },
  work: (hold: Hold) => Promise<WorkResult<T>>,
): Promise<{ value: T; hold: Hold; settled: RouterOutputs['usage']['capture'] }> {
  const hold = await client.usage.reserve.mutate(input);
  let result: WorkResult<T>;
  try {
    result = await work(hold);
  } catch (error) {
    await client.usage.release
      .mutate({
        workspaceId: input.workspaceId,
        holdId: hold.holdId,
        idempotencyKey: `${input.idempotencyKey}:release`,
      })
      .catch(() => undefined);
    throw error;
  }
  try {
    const settled = await client.usage.capture.mutate({
      workspaceId: input.workspaceId,
      holdId: hold.holdId,
      ...(result.actual ? { actual: result.actual } : {}),
      idempotencyKey: `${input.idempotencyKey}:capture`,
    });
    return { value: result.value, hold, settled };
  } catch (error) {
    // The work ran but the capture failed (the hold expired, or the network failed after
    // the capture committed — then this release is refused and changes nothing):
    // return the credits rather than leave them held, and report the failure.
    await client.usage.release
      .mutate({
        workspaceId: input.workspaceId,
        holdId: hold.holdId,
        idempotencyKey: `${input.idempotencyKey}:release`,
      })
      .catch(() => undefined);
    throw error;
  }
}
