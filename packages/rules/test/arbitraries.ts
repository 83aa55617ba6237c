import fc from 'fast-check';
import {
  AUDIO_TYPES,
  IMAGE_QUALITIES,
  IMAGE_TYPES,
  RESOLUTIONS,
  VIDEO_TYPES,
  type Job,
  type WorkspaceFacts,
} from '../src/index.js';

/** Every video job jobSchema accepts: each option may be absent, options itself too. */
export const videoJobArb: fc.Arbitrary<Job> = fc.record(
  {
    kind: fc.constant('video' as const),
    type: fc.constantFrom(...VIDEO_TYPES),
    durationSec: fc.integer({ min: 1, max: 600 }),
    resolution: fc.constantFrom(...RESOLUTIONS),
    options: fc.record(
      {
        audio: fc.boolean(),
        fps: fc.constantFrom(24 as const, 30 as const, 60 as const),
        referenceImages: fc.integer({ min: 0, max: 10 }),
      },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: ['kind', 'type', 'durationSec', 'resolution'] },
);

export const imageJobArb: fc.Arbitrary<Job> = fc.record(
  {
    kind: fc.constant('image' as const),
    type: fc.constantFrom(...IMAGE_TYPES),
    count: fc.integer({ min: 1, max: 100 }),
    quality: fc.constantFrom(...IMAGE_QUALITIES),
  },
  { requiredKeys: ['kind', 'type', 'count'] },
);

export const aiJobArb: fc.Arbitrary<Job> = fc.record({
  kind: fc.constant('ai' as const),
  tokens: fc.integer({ min: 1, max: 10_000_000 }),
});

export const audioJobArb: fc.Arbitrary<Job> = fc.record(
  {
    kind: fc.constant('audio' as const),
    type: fc.constantFrom(...AUDIO_TYPES),
    durationSec: fc.integer({ min: 1, max: 3600 }),
  },
  { requiredKeys: ['kind'] },
);

/** Jobs drawn from jobSchema's whole space. */
export const jobArb: fc.Arbitrary<Job> = fc.oneof(videoJobArb, imageJobArb, aiJobArb, audioJobArb);

export const FEATURES = ['video_edit', 'api_access', 'priority_queue'] as const;
export const PLANS = ['free', 'starter', 'pro', 'business', 'enterprise'] as const;

export const workspaceArb: fc.Arbitrary<WorkspaceFacts> = fc.record({
  plan: fc.constantFrom(...PLANS),
  features: fc.subarray([...FEATURES]),
  trialRemaining: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 50 })),
});
