/** A plan as the catalog seeds it (SPEC 4). Admin editing lands with the plans issue. */
export interface Plan {
  id: string;
  name: string;
  aiTokensPerCycle: number;
  /** Display price per month, in cents. */
  priceCents: number;
  features: string[];
  trialEligible: boolean;
}

export const DEFAULT_PLANS: readonly Plan[] = [
  { id: 'free', name: 'Free', aiTokensPerCycle: 20_000, priceCents: 0, features: [], trialEligible: true },
  { id: 'starter', name: 'Starter', aiTokensPerCycle: 200_000, priceCents: 1_900, features: [], trialEligible: true },
  { id: 'pro', name: 'Pro', aiTokensPerCycle: 1_000_000, priceCents: 4_900, features: ['video_edit'], trialEligible: true },
  { id: 'business', name: 'Business', aiTokensPerCycle: 5_000_000, priceCents: 19_900, features: ['video_edit'], trialEligible: false },
];

export function findPlan(id: string): Plan | undefined {
  return DEFAULT_PLANS.find((p) => p.id === id);
}
