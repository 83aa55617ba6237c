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

/** The currency plans are sold in through checkout (a plan keeps its price in minor units only). */
export const PLAN_CURRENCY = 'usd';

export const DEFAULT_PLANS: readonly Plan[] = [
  {
    id: 'free',
    name: 'Free',
    aiTokensPerCycle: 20_000,
    priceCents: 0,
    features: [],
    trialEligible: true,
  },
  {
    id: 'starter',
    name: 'Starter',
    aiTokensPerCycle: 200_000,
    priceCents: 1_900,
    features: [],
    trialEligible: true,
  },
  {
    id: 'pro',
    name: 'Pro',
    aiTokensPerCycle: 1_000_000,
    priceCents: 4_900,
    features: ['video_edit'],
    trialEligible: true,
  },
  {
    id: 'business',
    name: 'Business',
    aiTokensPerCycle: 5_000_000,
    priceCents: 19_900,
    features: ['video_edit'],
    trialEligible: false,
  },
];

export function findPlan(id: string): Plan | undefined {
  return DEFAULT_PLANS.find((p) => p.id === id);
}

/** A credit pack (SPEC 7). */
export interface Pack {
  id: string;
  wallet: 'image_credits' | 'video_credits' | 'ai_tokens';
  credits: number;
  priceCents: number;
  currency: string;
  active: boolean;
}

export const DEFAULT_PACKS: readonly Pack[] = [
  {
    id: 'image-100',
    wallet: 'image_credits',
    credits: 100,
    priceCents: 500,
    currency: 'usd',
    active: true,
  },
  {
    id: 'image-500',
    wallet: 'image_credits',
    credits: 500,
    priceCents: 2_000,
    currency: 'usd',
    active: true,
  },
  {
    id: 'video-200',
    wallet: 'video_credits',
    credits: 200,
    priceCents: 1_000,
    currency: 'usd',
    active: true,
  },
  {
    id: 'video-1000',
    wallet: 'video_credits',
    credits: 1_000,
    priceCents: 4_000,
    currency: 'usd',
    active: true,
  },
];
