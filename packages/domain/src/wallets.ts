/** The kinds of wallet a workspace has, in display order. */
export const WALLET_KINDS = [
  'ai_tokens',
  'image_credits',
  'video_credits',
  'audio_credits',
] as const;
export type WalletKind = (typeof WALLET_KINDS)[number];

export const WALLET_STATUSES = ['active', 'low', 'empty', 'coming_soon'] as const;
export type WalletStatus = (typeof WALLET_STATUSES)[number];

export const WALLET_ACTIONS = [
  'buy_image_credits',
  'buy_video_credits',
  'view_usage',
  'upgrade_plan',
] as const;
export type WalletAction = (typeof WALLET_ACTIONS)[number];

/** The job kinds that spend from each wallet. */
export type JobKindOf = 'ai' | 'image' | 'video' | 'audio';

export interface WalletCatalogEntry {
  kind: WalletKind;
  label: string;
  usedFor: string;
  jobKind: JobKindOf;
  /** False while the kind is "Coming Soon": shown, but no job may use it. */
  available: boolean;
  /** At or below this available balance the wallet is `low`. */
  lowThreshold: number;
}

/**
 * The seeded wallet catalog. Labels and "used for" lines are the help article's words.
 */
export const DEFAULT_WALLET_CATALOG: Record<WalletKind, WalletCatalogEntry> = {
  ai_tokens: {
    kind: 'ai_tokens',
    label: 'AI Tokens',
    usedFor: 'AI Chat, app-building help, and workspace AI assistance',
    jobKind: 'ai',
    available: true,
    lowThreshold: 10_000,
  },
  image_credits: {
    kind: 'image_credits',
    label: 'Image Credits',
    usedFor: 'Image Generation and logo/image creation in CloudMySite Image Studio',
    jobKind: 'image',
    available: true,
    lowThreshold: 20,
  },
  video_credits: {
    kind: 'video_credits',
    label: 'Video Credits',
    usedFor:
      'Standard Video, Premium Video, Reference Video, Character Swap Video, and Video Edit when available',
    jobKind: 'video',
    available: true,
    // Below the 50 free trial credits: a new workspace's trial is not "Low".
    lowThreshold: 20,
  },
  audio_credits: {
    kind: 'audio_credits',
    label: 'Audio Credits',
    usedFor: 'Coming Soon',
    jobKind: 'audio',
    available: false,
    lowThreshold: 0,
  },
};

const WALLET_OF_JOB: Record<JobKindOf, WalletKind> = {
  ai: 'ai_tokens',
  image: 'image_credits',
  video: 'video_credits',
  audio: 'audio_credits',
};

/** The wallet a job of this kind spends from. */
export function walletForJob(jobKind: JobKindOf): WalletKind {
  return WALLET_OF_JOB[jobKind];
}

/** SPEC 2: coming_soon when unavailable; else empty at 0; low at or below the threshold. */
export function walletStatus(input: {
  balance: number;
  lowThreshold: number;
  available: boolean;
}): WalletStatus {
  if (!input.available) return 'coming_soon';
  if (input.balance <= 0) return 'empty';
  if (input.balance <= input.lowThreshold) return 'low';
  return 'active';
}

/** SPEC 2: the buttons a wallet card shows. */
export function walletActions(kind: WalletKind, status: WalletStatus): WalletAction[] {
  if (status === 'coming_soon') return [];
  switch (kind) {
    case 'image_credits':
      return ['buy_image_credits', 'view_usage'];
    case 'video_credits':
      return ['buy_video_credits', 'view_usage'];
    case 'ai_tokens':
      return status === 'low' || status === 'empty'
        ? ['view_usage', 'upgrade_plan']
        : ['view_usage'];
    case 'audio_credits':
      return ['view_usage'];
  }
}

/**
 * What to offer when a job is short of credits: the wallet's own buy button, never a generic
 * upgrade prompt. AI tokens come with the plan, so they offer an upgrade.
 */
export function actionWhenShort(kind: WalletKind): WalletAction {
  switch (kind) {
    case 'image_credits':
      return 'buy_image_credits';
    case 'video_credits':
      return 'buy_video_credits';
    case 'ai_tokens':
      return 'upgrade_plan';
    case 'audio_credits':
      return 'view_usage';
  }
}

/** The UI's words for each action, as the help article quotes them. */
export const ACTION_LABELS: Record<WalletAction, string> = {
  buy_image_credits: 'Buy Image Credits',
  buy_video_credits: 'Buy Video Credits',
  view_usage: 'View Usage',
  upgrade_plan: 'Upgrade plan',
};
