export {
  createCreditsClient,
  reasonOf,
  type CreditsClient,
  type CreditsClientOptions,
} from './create-credits-client.js';
export type { AppRouter, RouterInputs, RouterOutputs } from './create-credits-client.js';
export { runWithCredits, type WorkResult } from './run-with-credits.js';
export { refundFailedJob } from './refund-failed-job.js';
