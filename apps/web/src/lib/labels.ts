import type { EntryType, WalletAction, WalletKind, WalletStatus } from '../trpc';

/** Button labels, word for word as the help article quotes them. */
export const ACTION_LABELS: Record<WalletAction, string> = {
  buy_image_credits: 'Buy Image Credits',
  buy_video_credits: 'Buy Video Credits',
  view_usage: 'View Usage',
  upgrade_plan: 'Upgrade plan',
};

export const STATUS_LABELS: Record<WalletStatus, string> = {
  active: 'Active',
  low: 'Low',
  empty: 'Empty',
  coming_soon: 'Coming Soon',
};

export const WALLET_LABELS: Record<WalletKind, string> = {
  ai_tokens: 'AI Tokens',
  image_credits: 'Image Credits',
  video_credits: 'Video Credits',
  audio_credits: 'Audio Credits',
};

/** Plan features as the comparison names them (the help article's "Video Edit when available"). */
export const FEATURE_LABELS: Record<string, string> = {
  video_edit: 'Video Edit',
};

/** "Pro plan" for a plan order (orders carry the plan's id; seeded names are the ids capitalized). */
export function planOrderLabel(planId: string | null): string {
  const id = planId ?? 'plan';
  return `${id.charAt(0).toUpperCase()}${id.slice(1)} plan`;
}

export const WALLET_KINDS = Object.keys(WALLET_LABELS) as WalletKind[];

export function walletUnit(kind: WalletKind): 'token' | 'credit' {
  return kind === 'ai_tokens' ? 'token' : 'credit';
}

export const ENTRY_LABELS: Record<EntryType, string> = {
  grant: 'Grant',
  purchase: 'Purchase',
  trial: 'Trial credits',
  hold: 'Hold',
  spend: 'Spent',
  return: 'Returned credits',
  expire: 'Expired',
  refund: 'Refund',
  adjustment: 'Adjustment',
};

export const ENTRY_TYPES = Object.keys(ENTRY_LABELS) as EntryType[];

/** Entries that give credits back to the user: marked visibly in history. */
export function isReturned(type: EntryType): boolean {
  return type === 'return' || type === 'refund';
}

export const VIDEO_TYPE_LABELS = {
  standard: 'Standard Video',
  premium: 'Premium Video',
  reference: 'Reference Video',
  character_swap: 'Character Swap Video',
  edit: 'Video Edit',
} as const;

const NUMBER_WORDS = [
  'zero',
  'one',
  'two',
  'three',
  'four',
  'five',
  'six',
  'seven',
  'eight',
  'nine',
  'ten',
];
/** Short names for images in a sentence ("62 hero images"). */
const IMAGE_NOUNS: Record<string, [string, string]> = {
  hero: ['hero image', 'hero images'],
  product: ['product visual', 'product visuals'],
  social: ['social graphic', 'social graphics'],
  banner: ['banner', 'banners'],
  background: ['background', 'backgrounds'],
  icon: ['icon', 'icons'],
  logo: ['logo concept', 'logo concepts'],
  brand_mark: ['brand mark', 'brand marks'],
};

/**
 * A job in words, singular or plural: "five-second Standard video at 720p",
 * "hero images". Only the words: every number in it comes from the job the API sent.
 */
export function jobInWords(
  job:
    | { kind: 'video'; type: string; durationSec: number; resolution: string }
    | { kind: 'image'; type: string; count: number }
    | { kind: string },
  plural: boolean,
): string {
  if (job.kind === 'video' && 'durationSec' in job) {
    const secs = NUMBER_WORDS[job.durationSec] ?? String(job.durationSec);
    const type = (VIDEO_TYPE_LABELS as Record<string, string>)[job.type] ?? job.type;
    return `${secs}-second ${type.replace(/ Video$/, '')} video${plural ? 's' : ''} at ${job.resolution}`;
  }
  if (job.kind === 'image' && 'type' in job) {
    const [one, many] = IMAGE_NOUNS[job.type] ?? ['image', 'images'];
    return plural ? many : one;
  }
  return plural ? 'jobs' : 'job';
}

export const IMAGE_TYPE_LABELS = {
  hero: 'Website hero image',
  product: 'Product visual',
  social: 'Social graphic',
  banner: 'Banner',
  background: 'Background',
  icon: 'Icon',
  logo: 'Logo concept',
  brand_mark: 'Brand mark',
} as const;

export const IMAGE_QUALITY_LABELS = { draft: 'Draft', standard: 'Standard', hd: 'HD' } as const;

export const JOB_STATUS_LABELS = {
  reserved: 'Running',
  completed: 'Completed',
  failed: 'Failed: credits returned',
  expired: 'Expired: credits returned',
} as const;
