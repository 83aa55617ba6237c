import type { Job, WorkspaceFacts } from './job.js';

/** One line of a quote's breakdown: which rule contributed what. */
export interface BreakdownLine {
  /** Human label, e.g. "Standard video 720p: 10 credits/s × 5 s". */
  label: string;
  /** The event type that produced this line. */
  type: 'rate' | 'flat' | 'multiplier' | 'minimum';
  /** Signed integer credits this line adds to the running total. */
  credits: number;
}

export type Unavailable = {
  ok: false;
  reason: 'FEATURE_UNAVAILABLE' | 'COMING_SOON';
  message: string;
  ruleVersion: number;
};

export type Priced = {
  ok: true;
  /** Integer cost in the job's wallet unit. */
  credits: number;
  breakdown: BreakdownLine[];
  /** The trial restriction accepts this job, so trial lots may pay for it. */
  trialApplies: boolean;
  ruleVersion: number;
};

export type PriceOutcome = Priced | Unavailable;

/** A rule set compiled for one version: prices jobs synchronously. */
export interface Pricer {
  readonly version: number;
  /**
   * Whether any rule reads the workspace's `trialRemaining`: when none does, callers may
   * skip reading it (any value prices the same).
   */
  readonly usesTrialRemaining: boolean;
  price(job: Job, workspace: WorkspaceFacts): PriceOutcome;
}
