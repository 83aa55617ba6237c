import type { Quote, WalletView } from './trpc';

/** Factories, not shared state: each test gets its own objects. */
export function makeWallet(overrides: Partial<WalletView> & Pick<WalletView, 'kind'>): WalletView {
  const base: Record<WalletView['kind'], Omit<WalletView, 'kind'>> = {
    ai_tokens: {
      label: 'AI Tokens',
      usedFor: 'AI Chat, app-building help, and workspace AI assistance',
      balance: 20_000,
      held: 0,
      status: 'active',
      actions: ['view_usage'],
      lowThreshold: 10_000,
    },
    image_credits: {
      label: 'Image Credits',
      usedFor: 'Image Generation and logo/image creation in CloudMySite Image Studio',
      balance: 500,
      held: 0,
      status: 'active',
      actions: ['buy_image_credits', 'view_usage'],
      lowThreshold: 20,
    },
    video_credits: {
      label: 'Video Credits',
      usedFor:
        'Standard Video, Premium Video, Reference Video, Character Swap Video, and Video Edit when available',
      balance: 200,
      held: 0,
      status: 'active',
      actions: ['buy_video_credits', 'view_usage'],
      lowThreshold: 20,
    },
    audio_credits: {
      label: 'Audio Credits',
      usedFor: 'Coming Soon',
      balance: 0,
      held: 0,
      status: 'coming_soon',
      actions: [],
      lowThreshold: 0,
    },
  };
  return { ...base[overrides.kind], ...overrides };
}

export function makeQuote(overrides: Partial<Quote> = {}): Quote {
  return {
    wallet: 'video_credits',
    credits: 50,
    breakdown: [{ label: 'Standard Video, 720p: 5 s × 10', type: 'rate', credits: 50 }],
    ruleVersion: 1,
    trialApplies: false,
    trialCredits: 0,
    balance: 200,
    usable: 200,
    sufficient: true,
    action: null,
    spendLimit: null,
    ...overrides,
  };
}
