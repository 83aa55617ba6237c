import type { CreditsClient, RouterOutputs } from './create-credits-client.js';

/**
 * "The job failed after it finished": refund part or all of a captured or charged job. The
 * idempotency key is derived from `idempotencyKey` (`<key>:refund`), so retrying the same
 * call after a network failure refunds once. Needs a service key with `usage:write` (or an
 * admin). Without `credits`, all that is still refundable goes back.
 *
 * @example
 * await refundFailedJob(credits, { workspaceId, jobId: hold.holdId, reason: 'Render came out black',
 *   idempotencyKey: jobId });
 */
export function refundFailedJob(
  client: CreditsClient,
  input: {
    workspaceId: string;
    /** The captured hold's id, or a charge's job id. */
    jobId: string;
    reason: string;
    idempotencyKey: string;
    credits?: number;
  },
): Promise<RouterOutputs['usage']['refund']> {
  return client.usage.refund.mutate({
    workspaceId: input.workspaceId,
    jobId: input.jobId,
    reason: input.reason,
    ...(input.credits === undefined ? {} : { credits: input.credits }),
    idempotencyKey: `${input.idempotencyKey}:refund`,
  });
}
