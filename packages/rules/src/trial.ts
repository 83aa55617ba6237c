import { compileCondition, type Predicate } from './conditions.js';
import type { RuleDocument } from './document.js';
import { TRIAL_ELIGIBILITY_FACTS, type TrialEligibilityInput } from './facts.js';

export interface TrialGrant {
  /** Video credits in the trial lot. */
  credits: number;
  /** Restriction name on the lot; trial lots pay only for jobs with `trialApplies`. */
  restriction: string;
  /** The banner text, e.g. "Free trial includes one 5-second Standard Video at 720p." */
  message: string;
}

const eligibilityCache = new WeakMap<RuleDocument, Predicate>();

/**
 * The trial lot a new workspace gets under this document, or `null` when its plan is not
 * eligible. Eligibility is the document's `trial.eligibility` conditions over `plan` and
 * `trialEligible` (the plan's flag). Granting it once per workspace is the ledger's job.
 */
export function trialGrant(doc: RuleDocument, workspace: TrialEligibilityInput): TrialGrant | null {
  let eligible = eligibilityCache.get(doc);
  if (eligible === undefined) {
    eligible = compileCondition(doc.trial.eligibility, TRIAL_ELIGIBILITY_FACTS);
    eligibilityCache.set(doc, eligible);
  }
  if (!eligible(workspace, undefined)) return null;
  const { credits, restriction, message } = doc.trial.grant;
  return { credits, restriction, message };
}
