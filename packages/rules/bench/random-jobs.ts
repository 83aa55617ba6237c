import {
  AUDIO_TYPES,
  IMAGE_QUALITIES,
  IMAGE_TYPES,
  RESOLUTIONS,
  VIDEO_TYPES,
  type Job,
  type WorkspaceFacts,
} from '../src/index.js';

/** mulberry32: a small seeded PRNG, so a bench run is reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: () => number, min: number, max: number): number =>
  min + Math.floor(r() * (max - min + 1));
const maybe = (r: () => number): boolean => r() < 0.5;

/** A job drawn uniformly-ish from the whole space jobSchema accepts (every kind, every option). */
export function randomJob(r: () => number): Job {
  switch (int(r, 0, 3)) {
    case 0: {
      const options: Record<string, unknown> = {};
      if (maybe(r)) options.audio = maybe(r);
      if (maybe(r)) options.fps = pick(r, [24, 30, 60] as const);
      if (maybe(r)) options.referenceImages = int(r, 0, 10);
      return {
        kind: 'video',
        type: pick(r, VIDEO_TYPES),
        durationSec: int(r, 1, 600),
        resolution: pick(r, RESOLUTIONS),
        ...(maybe(r) ? { options } : {}),
      };
    }
    case 1:
      return {
        kind: 'image',
        type: pick(r, IMAGE_TYPES),
        count: int(r, 1, 100),
        ...(maybe(r) ? { quality: pick(r, IMAGE_QUALITIES) } : {}),
      };
    case 2:
      return { kind: 'ai', tokens: int(r, 1, 10_000_000) };
    default:
      return {
        kind: 'audio',
        ...(maybe(r) ? { type: pick(r, AUDIO_TYPES) } : {}),
        ...(maybe(r) ? { durationSec: int(r, 1, 3600) } : {}),
      };
  }
}

const PLANS = ['free', 'starter', 'pro', 'business'];
const FEATURES = ['video_edit', 'api_access', 'priority_queue'];

export function randomWorkspace(r: () => number): WorkspaceFacts {
  return {
    plan: pick(r, PLANS),
    features: FEATURES.filter(() => maybe(r)),
    trialRemaining: pick(r, [0, 0, 10, 50]),
  };
}
