import { z } from 'zod';

/** Video job types, as the Video Studio offers them. */
export const VIDEO_TYPES = ['standard', 'premium', 'reference', 'character_swap', 'edit'] as const;
export const RESOLUTIONS = ['480p', '720p', '1080p', '4k'] as const;
export const IMAGE_TYPES = [
  'hero',
  'product',
  'social',
  'banner',
  'background',
  'icon',
  'logo',
  'brand_mark',
] as const;
export const IMAGE_QUALITIES = ['draft', 'standard', 'hd'] as const;
export const AUDIO_TYPES = ['voice', 'music', 'sfx'] as const;

const videoJob = z
  .object({
    kind: z.literal('video'),
    type: z.enum(VIDEO_TYPES),
    durationSec: z.number().int().min(1).max(600),
    resolution: z.enum(RESOLUTIONS),
    options: z
      .object({
        audio: z.boolean().optional(),
        fps: z.union([z.literal(24), z.literal(30), z.literal(60)]).optional(),
        referenceImages: z.number().int().min(0).max(10).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const imageJob = z
  .object({
    kind: z.literal('image'),
    type: z.enum(IMAGE_TYPES),
    count: z.number().int().min(1).max(100),
    quality: z.enum(IMAGE_QUALITIES).optional(),
  })
  .strict();

const aiJob = z
  .object({
    kind: z.literal('ai'),
    tokens: z.number().int().min(1).max(10_000_000),
  })
  .strict();

const audioJob = z
  .object({
    kind: z.literal('audio'),
    type: z.enum(AUDIO_TYPES).optional(),
    durationSec: z.number().int().min(1).max(3600).optional(),
  })
  .strict();

/** A job as callers describe it: what they want to run, before it is priced. */
export const jobSchema = z.discriminatedUnion('kind', [videoJob, imageJob, aiJob, audioJob]);
export type Job = z.infer<typeof jobSchema>;
export type VideoJob = z.infer<typeof videoJob>;
export type ImageJob = z.infer<typeof imageJob>;
export type AiJob = z.infer<typeof aiJob>;
export type AudioJob = z.infer<typeof audioJob>;
export type JobKind = Job['kind'];

/** Facts about the workspace that rules may read. */
export interface WorkspaceFacts {
  plan: string;
  features: readonly string[];
  trialRemaining: number;
}
