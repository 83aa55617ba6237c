import type { Condition, TopLevelCondition } from './conditions.js';
import type { RuleDocument, RuleExample } from './document.js';
import type { Job } from './job.js';

/**
 * The seeded price tables. The default rule document below is generated from them, and the
 * package README shows the same numbers. Standard video at 720p is 10 credits a second, so the
 * 50 trial credits buy exactly one 5-second Standard Video at 720p.
 */
export const DEFAULT_PRICES = {
  /** Video credits per second, by type and resolution, before options. */
  videoPerSecond: {
    standard: { '480p': 6, '720p': 10, '1080p': 16, '4k': 32 },
    premium: { '480p': 15, '720p': 25, '1080p': 40, '4k': 80 },
    reference: { '480p': 11, '720p': 18, '1080p': 29, '4k': 58 },
    character_swap: { '480p': 18, '720p': 30, '1080p': 48, '4k': 96 },
    edit: { '480p': 5, '720p': 8, '1080p': 13, '4k': 26 },
  },
  videoAudioPerSecond: 2,
  video60FpsFactor: 1.25,
  videoPerReferenceImage: 4,
  characterSwapMinimum: 100,
  /** Image credits per image at standard quality. */
  imagePerImage: {
    hero: 8,
    product: 6,
    social: 4,
    banner: 6,
    background: 5,
    icon: 2,
    logo: 10,
    brand_mark: 12,
  },
  imageQualityFactor: { draft: 0.5, hd: 2 },
  /** Volume discounts on image jobs, by image count. */
  imageVolume: [
    { minCount: 10, maxCount: 49, factor: 0.9 },
    { minCount: 50, maxCount: null, factor: 0.8 },
  ],
  aiPerToken: 1,
} as const;

const VIDEO_LABEL: Record<keyof typeof DEFAULT_PRICES.videoPerSecond, string> = {
  standard: 'Standard Video',
  premium: 'Premium Video',
  reference: 'Reference Video',
  character_swap: 'Character Swap Video',
  edit: 'Video Edit',
};

const IMAGE_LABEL: Record<keyof typeof DEFAULT_PRICES.imagePerImage, string> = {
  hero: 'Hero image',
  product: 'Product visual',
  social: 'Social graphic',
  banner: 'Banner',
  background: 'Background',
  icon: 'Icon',
  logo: 'Logo concept',
  brand_mark: 'Brand mark',
};

const eq = (fact: string, value: string | number | boolean): Condition => ({
  fact,
  operator: 'equal',
  value,
});
const all = (...conditions: Condition[]): TopLevelCondition => ({ all: conditions });

/** Priorities: base rates first, then add-ons, then multipliers, then per-item extras. */
const P = { base: 100, addOn: 90, multiplier: 50, extra: 40, discount: 30, minimum: 10 } as const;

function videoRules(): RuleDocument['pricing']['video'] {
  const rules: RuleDocument['pricing']['video'] = [];
  for (const [type, byRes] of Object.entries(DEFAULT_PRICES.videoPerSecond)) {
    for (const [resolution, perUnit] of Object.entries(byRes)) {
      const label = `${VIDEO_LABEL[type as keyof typeof VIDEO_LABEL]}, ${resolution}`;
      rules.push({
        name: `${label} per second`,
        priority: P.base,
        conditions: all(eq('type', type), eq('resolution', resolution)),
        event: { type: 'rate', params: { perUnit, unit: 'second', label } },
      });
    }
  }
  rules.push(
    {
      name: 'Audio track per second',
      priority: P.addOn,
      conditions: all(eq('audio', true)),
      event: {
        type: 'rate',
        params: {
          perUnit: DEFAULT_PRICES.videoAudioPerSecond,
          unit: 'second',
          label: 'Audio track',
        },
      },
    },
    {
      name: '60 fps',
      priority: P.multiplier,
      conditions: all(eq('fps', 60)),
      event: {
        type: 'multiplier',
        params: { factor: DEFAULT_PRICES.video60FpsFactor, label: '60 fps' },
      },
    },
    {
      name: 'Reference images',
      priority: P.extra,
      conditions: all({ fact: 'referenceImages', operator: 'greaterThan', value: 0 }),
      event: {
        type: 'rate',
        params: {
          perUnit: DEFAULT_PRICES.videoPerReferenceImage,
          unit: 'reference_image',
          label: 'Reference images',
        },
      },
    },
    {
      name: 'Character Swap minimum',
      priority: P.minimum,
      conditions: all(eq('type', 'character_swap')),
      event: {
        type: 'minimum',
        params: { credits: DEFAULT_PRICES.characterSwapMinimum, label: 'Character Swap minimum' },
      },
    },
  );
  return rules;
}

function imageRules(): RuleDocument['pricing']['image'] {
  const rules: RuleDocument['pricing']['image'] = [];
  for (const [type, perUnit] of Object.entries(DEFAULT_PRICES.imagePerImage)) {
    const label = IMAGE_LABEL[type as keyof typeof IMAGE_LABEL];
    rules.push({
      name: `${label} per image`,
      priority: P.base,
      conditions: all(eq('type', type)),
      event: { type: 'rate', params: { perUnit, unit: 'image', label } },
    });
  }
  for (const [quality, factor] of Object.entries(DEFAULT_PRICES.imageQualityFactor)) {
    const label = quality === 'hd' ? 'HD quality' : 'Draft quality';
    rules.push({
      name: label,
      priority: P.multiplier,
      conditions: all(eq('quality', quality)),
      event: { type: 'multiplier', params: { factor, label } },
    });
  }
  for (const tier of DEFAULT_PRICES.imageVolume) {
    const label = `Volume discount, ${tier.minCount}+ images`;
    const conditions: Condition[] = [
      { fact: 'count', operator: 'greaterThanInclusive', value: tier.minCount },
    ];
    if (tier.maxCount !== null)
      conditions.push({ fact: 'count', operator: 'lessThanInclusive', value: tier.maxCount });
    rules.push({
      name: label,
      priority: P.discount,
      conditions: { all: conditions },
      event: { type: 'multiplier', params: { factor: tier.factor, label } },
    });
  }
  return rules;
}

const video = (
  type: Extract<Job, { kind: 'video' }>['type'],
  durationSec: number,
  resolution: Extract<Job, { kind: 'video' }>['resolution'],
  options?: Extract<Job, { kind: 'video' }>['options'],
): Job => ({ kind: 'video', type, durationSec, resolution, ...(options ? { options } : {}) });

const image = (
  type: Extract<Job, { kind: 'image' }>['type'],
  count: number,
  quality?: Extract<Job, { kind: 'image' }>['quality'],
): Job => ({ kind: 'image', type, count, ...(quality ? { quality } : {}) });

const EDIT_WS = { features: ['video_edit'] };

/** Golden quotes, worked by hand from the price table (see README). */
const EXAMPLES: RuleExample[] = [
  {
    name: 'Trial video: 5 s Standard 720p',
    job: video('standard', 5, '720p'),
    expect: { credits: 50, trialApplies: true },
  },
  {
    name: '6 s Standard 720p is not a trial job',
    job: video('standard', 6, '720p'),
    expect: { credits: 60, trialApplies: false },
  },
  {
    name: '4 s Standard 720p is a trial job',
    job: video('standard', 4, '720p'),
    expect: { credits: 40, trialApplies: true },
  },
  {
    name: 'Trial applies whatever the trial balance',
    job: video('standard', 5, '720p'),
    workspace: { trialRemaining: 50 },
    expect: { credits: 50, trialApplies: true },
  },
  {
    name: '5 s Standard 480p (not a trial job)',
    job: video('standard', 5, '480p'),
    expect: { credits: 30, trialApplies: false },
  },
  { name: '5 s Standard 1080p', job: video('standard', 5, '1080p'), expect: { credits: 80 } },
  { name: '10 s Standard 4K', job: video('standard', 10, '4k'), expect: { credits: 320 } },
  { name: '1 s Standard 480p', job: video('standard', 1, '480p'), expect: { credits: 6 } },
  { name: '600 s Standard 4K', job: video('standard', 600, '4k'), expect: { credits: 19200 } },
  {
    name: '5 s Premium 720p',
    job: video('premium', 5, '720p'),
    expect: { credits: 125, trialApplies: false },
  },
  { name: '8 s Premium 1080p', job: video('premium', 8, '1080p'), expect: { credits: 320 } },
  {
    name: '3 s Premium 480p at 60 fps: 45 × 1.25 = 56.25 → 57',
    job: video('premium', 3, '480p', { fps: 60 }),
    expect: { credits: 57 },
  },
  { name: '5 s Reference 720p', job: video('reference', 5, '720p'), expect: { credits: 90 } },
  {
    name: '5 s Reference 720p with 2 reference images',
    job: video('reference', 5, '720p', { referenceImages: 2 }),
    expect: { credits: 98 },
  },
  {
    name: '4 s Reference 1080p, 60 fps, 3 reference images: 116 × 1.25 + 12',
    job: video('reference', 4, '1080p', { fps: 60, referenceImages: 3 }),
    expect: { credits: 157 },
  },
  {
    name: '3 s Character Swap 720p raised to the minimum',
    job: video('character_swap', 3, '720p'),
    expect: { credits: 100 },
  },
  {
    name: '5 s Character Swap 720p',
    job: video('character_swap', 5, '720p'),
    expect: { credits: 150 },
  },
  {
    name: '10 s Character Swap 4K',
    job: video('character_swap', 10, '4k'),
    expect: { credits: 960 },
  },
  {
    name: '2 s Character Swap 480p with audio, minimum',
    job: video('character_swap', 2, '480p', { audio: true }),
    expect: { credits: 100 },
  },
  {
    name: '5 s Video Edit 720p with the feature',
    job: video('edit', 5, '720p'),
    workspace: EDIT_WS,
    expect: { credits: 40 },
  },
  {
    name: '5 s Video Edit 4K with audio',
    job: video('edit', 5, '4k', { audio: true }),
    workspace: EDIT_WS,
    expect: { credits: 140 },
  },
  {
    name: 'Video Edit without the feature',
    job: video('edit', 5, '720p'),
    expect: { unavailable: 'FEATURE_UNAVAILABLE' },
  },
  {
    name: 'Video Edit on another feature set',
    job: video('edit', 5, '720p'),
    workspace: { plan: 'pro', features: ['api_access'] },
    expect: { unavailable: 'FEATURE_UNAVAILABLE' },
  },
  {
    name: '5 s Standard 720p with audio',
    job: video('standard', 5, '720p', { audio: true }),
    expect: { credits: 60, trialApplies: true },
  },
  {
    name: '5 s Standard 720p at 60 fps: 62.5 → 63',
    job: video('standard', 5, '720p', { fps: 60 }),
    expect: { credits: 63 },
  },
  {
    name: '5 s Standard 720p at 30 fps',
    job: video('standard', 5, '720p', { fps: 30 }),
    expect: { credits: 50 },
  },
  {
    name: '7 s Standard 720p, audio, 60 fps: 84 × 1.25',
    job: video('standard', 7, '720p', { audio: true, fps: 60 }),
    expect: { credits: 105 },
  },
  { name: '1 hero image', job: image('hero', 1, 'standard'), expect: { credits: 8 } },
  { name: '1 hero image, quality omitted', job: image('hero', 1), expect: { credits: 8 } },
  { name: '4 draft icons', job: image('icon', 4, 'draft'), expect: { credits: 4 } },
  { name: '1 draft icon', job: image('icon', 1, 'draft'), expect: { credits: 1 } },
  { name: '3 HD logo concepts', job: image('logo', 3, 'hd'), expect: { credits: 60 } },
  { name: '1 HD brand mark', job: image('brand_mark', 1, 'hd'), expect: { credits: 24 } },
  {
    name: '10 social graphics: volume discount',
    job: image('social', 10, 'standard'),
    expect: { credits: 36 },
  },
  {
    name: '12 draft product visuals: 36 × 0.9 = 32.4 → 33',
    job: image('product', 12, 'draft'),
    expect: { credits: 33 },
  },
  { name: '50 HD banners', job: image('banner', 50, 'hd'), expect: { credits: 480 } },
  {
    name: '7 draft backgrounds: 17.5 → 18',
    job: image('background', 7, 'draft'),
    expect: { credits: 18 },
  },
  { name: '100 hero images', job: image('hero', 100), expect: { credits: 640 } },
  {
    name: '49 draft logos: 245 × 0.9 = 220.5 → 221',
    job: image('logo', 49, 'draft'),
    expect: { credits: 221 },
  },
  { name: '1 AI token', job: { kind: 'ai', tokens: 1 }, expect: { credits: 1 } },
  { name: '12,345 AI tokens', job: { kind: 'ai', tokens: 12_345 }, expect: { credits: 12_345 } },
  {
    name: 'Audio voice is coming soon',
    job: { kind: 'audio', type: 'voice', durationSec: 10 },
    expect: { unavailable: 'COMING_SOON' },
  },
  {
    name: 'Audio with no options is coming soon',
    job: { kind: 'audio' },
    expect: { unavailable: 'COMING_SOON' },
  },
];

/** The seeded rule set (version 1 of a fresh install). */
export const defaultRuleDocumentSource: RuleDocument = {
  schemaVersion: 1,
  name: 'Default pricing',
  description:
    'Seeded prices: Standard video 720p is 10 credits/s; images by type, quality and volume; AI tokens 1:1; audio coming soon.',
  pricing: {
    video: videoRules(),
    image: imageRules(),
    ai: [
      {
        name: 'AI tokens',
        priority: P.base,
        conditions: { all: [] },
        event: {
          type: 'rate',
          params: { perUnit: DEFAULT_PRICES.aiPerToken, unit: 'token', label: 'AI tokens' },
        },
      },
    ],
    audio: [],
  },
  availability: {
    video: [
      {
        name: 'Video Edit needs the video_edit feature',
        priority: 100,
        conditions: all(eq('type', 'edit'), {
          fact: 'features',
          operator: 'doesNotContain',
          value: 'video_edit',
        }),
        event: {
          type: 'unavailable',
          params: {
            reason: 'FEATURE_UNAVAILABLE',
            message: 'Video Edit is not available on this plan.',
          },
        },
      },
    ],
    image: [],
    ai: [],
    audio: [
      {
        name: 'Audio is coming soon',
        priority: 100,
        conditions: { all: [] },
        event: {
          type: 'unavailable',
          params: { reason: 'COMING_SOON', message: 'Audio generation is coming soon.' },
        },
      },
    ],
  },
  trial: {
    eligibility: all(eq('trialEligible', true)),
    grant: {
      credits: 50,
      restriction: 'trial',
      message: 'Free trial includes one 5-second Standard Video at 720p.',
    },
    accepts: all(
      eq('type', 'standard'),
      { fact: 'durationSec', operator: 'lessThanInclusive', value: 5 },
      eq('resolution', '720p'),
    ),
  },
  examples: EXAMPLES,
};
