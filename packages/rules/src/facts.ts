import {
  AUDIO_TYPES,
  IMAGE_QUALITIES,
  IMAGE_TYPES,
  RESOLUTIONS,
  VIDEO_TYPES,
  type AudioJob,
  type ImageJob,
  type JobKind,
  type VideoJob,
  type WorkspaceFacts,
} from './job.js';

const ws = (w: unknown): WorkspaceFacts => w as WorkspaceFacts;
const video = (j: unknown): VideoJob => j as VideoJob;
const image = (j: unknown): ImageJob => j as ImageJob;
const audio = (j: unknown): AudioJob => j as AudioJob;

/**
 * The value type of a fact. It decides which operators a condition on the fact may use and
 * which literal it compares against (see `OPERATORS_BY_FACT_TYPE`).
 */
export type FactType = 'string' | 'number' | 'boolean' | 'string[]';

/** Reads one fact from the subject (a job, or the trial-eligibility context) and the workspace. */
export type FactGetter = (subject: unknown, workspace: unknown) => unknown;

export interface FactDef {
  readonly type: FactType;
  /** For enumerated strings: the only values a condition may compare against. */
  readonly values?: readonly string[];
  readonly get: FactGetter;
  readonly description: string;
}

export type FactTable = Readonly<Record<string, FactDef>>;

/**
 * Defaults the rules see when a job leaves an option out. Both evaluation paths read facts
 * through the same getters, so both see the same defaults.
 */
export const FACT_DEFAULTS = {
  audio: false,
  fps: 24,
  referenceImages: 0,
  quality: 'standard',
} as const;

const WORKSPACE_FACTS: FactTable = {
  plan: {
    type: 'string',
    description: 'Plan name of the workspace.',
    get: (_s, w) => ws(w).plan,
  },
  features: {
    type: 'string[]',
    description: 'Feature flags of the workspace (plan features and per-workspace flags).',
    get: (_s, w) => ws(w).features,
  },
  trialRemaining: {
    type: 'number',
    description: 'Trial credits the workspace still holds.',
    get: (_s, w) => ws(w).trialRemaining,
  },
};

/** Facts a rule may read, per job kind (job facts plus workspace facts). */
export const FACTS_BY_KIND: Readonly<Record<JobKind, FactTable>> = {
  video: {
    type: {
      type: 'string',
      values: VIDEO_TYPES,
      description: 'Video type.',
      get: (j) => video(j).type,
    },
    durationSec: {
      type: 'number',
      description: 'Length in seconds.',
      get: (j) => video(j).durationSec,
    },
    resolution: {
      type: 'string',
      values: RESOLUTIONS,
      description: 'Output resolution.',
      get: (j) => video(j).resolution,
    },
    audio: {
      type: 'boolean',
      description: 'Generate an audio track (default false).',
      get: (j) => video(j).options?.audio ?? FACT_DEFAULTS.audio,
    },
    fps: {
      type: 'number',
      description: 'Frames per second: 24, 30 or 60 (default 24).',
      get: (j) => video(j).options?.fps ?? FACT_DEFAULTS.fps,
    },
    referenceImages: {
      type: 'number',
      description: 'Number of reference images (default 0).',
      get: (j) => video(j).options?.referenceImages ?? FACT_DEFAULTS.referenceImages,
    },
    ...WORKSPACE_FACTS,
  },
  image: {
    type: {
      type: 'string',
      values: IMAGE_TYPES,
      description: 'Image type.',
      get: (j) => image(j).type,
    },
    count: { type: 'number', description: 'Number of images.', get: (j) => image(j).count },
    quality: {
      type: 'string',
      values: IMAGE_QUALITIES,
      description: 'draft | standard | hd (default standard).',
      get: (j) => image(j).quality ?? FACT_DEFAULTS.quality,
    },
    ...WORKSPACE_FACTS,
  },
  ai: {
    tokens: {
      type: 'number',
      description: 'Tokens used or requested.',
      get: (j) => (j as { tokens: number }).tokens,
    },
    ...WORKSPACE_FACTS,
  },
  audio: {
    type: {
      type: 'string',
      values: AUDIO_TYPES,
      description: 'Audio type (may be absent).',
      get: (j) => audio(j).type,
    },
    durationSec: {
      type: 'number',
      description: 'Length in seconds (may be absent).',
      get: (j) => audio(j).durationSec,
    },
    ...WORKSPACE_FACTS,
  },
};

/** What `trialGrant` knows about a workspace when it decides eligibility. */
export interface TrialEligibilityInput {
  trialEligible: boolean;
  plan: string;
}

/** Facts the `trial.eligibility` conditions may read. */
export const TRIAL_ELIGIBILITY_FACTS: FactTable = {
  plan: {
    type: 'string',
    description: 'Plan name.',
    get: (s) => (s as TrialEligibilityInput).plan,
  },
  trialEligible: {
    type: 'boolean',
    description: "The plan's trialEligible flag.",
    get: (s) => (s as TrialEligibilityInput).trialEligible,
  },
};

/**
 * The facts object handed to json-rules-engine for one job: every fact of the job's kind,
 * read through the same getters the compiled path uses. Absent values are left out, and the
 * engine runs with `allowUndefinedFacts: true`, so they read as `undefined` on both paths.
 */
export function factsObject(
  table: FactTable,
  subject: unknown,
  workspace: unknown,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(table)) {
    const value = table[name]!.get(subject, workspace);
    if (value !== undefined) out[name] = value;
  }
  return out;
}
