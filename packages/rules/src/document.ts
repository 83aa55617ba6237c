import { z } from 'zod';
import { checkCondition, type TopLevelCondition } from './conditions.js';
import {
  EVENT_TYPES,
  RATE_UNITS,
  UNAVAILABLE_REASONS,
  factorToBps,
  type RateUnit,
} from './combine.js';
import { FACTS_BY_KIND, TRIAL_ELIGIBILITY_FACTS, type FactTable } from './facts.js';
import { jobSchema, type JobKind } from './job.js';

export const JOB_KINDS = ['video', 'image', 'ai', 'audio'] as const satisfies readonly JobKind[];

/** Hard limits on a rule document, checked before anything else reads it. */
export const LIMITS = {
  /** Serialized size (UTF-8 bytes, or an upper estimate for an object input). */
  sizeBytesMax: 256 * 1024,
  /** Nesting depth of objects and arrays, the document root being depth 1. */
  depthMax: 32,
  rulesPerSectionMax: 500,
  examplesMax: 1000,
  /** Upper bound for rates, flat amounts and minimums. */
  amountMax: 1_000_000,
  factorMax: 100,
  rulePriorityMax: 10_000,
  errorsMax: 100,
} as const;

/** Units a rate may use, per job kind. */
export const UNITS_BY_KIND: Readonly<Record<JobKind, readonly RateUnit[]>> = {
  video: ['second', 'reference_image'],
  image: ['image'],
  ai: ['token', '1k_tokens'],
  audio: ['second'],
};

const label = z.string().min(1).max(200);
const amount = z.number().int().min(0).max(LIMITS.amountMax);

function conditionsSchema(facts: FactTable) {
  return z
    .custom<TopLevelCondition>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), {
      message: 'conditions must be an object with "all", "any" or "not"',
    })
    .superRefine((node, ctx) => {
      checkCondition({
        node,
        facts,
        path: [],
        root: true,
        report: (path, message) => ctx.addIssue({ code: 'custom', path, message }),
      });
    });
}

const unavailableEvent = z
  .object({
    type: z.literal('unavailable'),
    params: z
      .object({ reason: z.enum(UNAVAILABLE_REASONS), message: z.string().min(1).max(500) })
      .strict(),
  })
  .strict();

function pricingEventSchema(kind: JobKind) {
  const units = UNITS_BY_KIND[kind];
  return z.discriminatedUnion('type', [
    z
      .object({
        type: z.literal('rate'),
        params: z
          .object({
            perUnit: amount,
            unit: z.enum(RATE_UNITS).refine((u) => units.includes(u), {
              message: `${kind} rates use unit ${units.join(' or ')}`,
            }),
            label,
          })
          .strict(),
      })
      .strict(),
    z
      .object({ type: z.literal('flat'), params: z.object({ credits: amount, label }).strict() })
      .strict(),
    z
      .object({
        type: z.literal('multiplier'),
        params: z
          .object({
            factor: z
              .number()
              .min(0)
              .max(LIMITS.factorMax)
              .refine((f) => factorToBps(f) !== null, {
                message: 'factor has at most 4 decimal places',
              }),
            label,
          })
          .strict(),
      })
      .strict(),
    z
      .object({
        type: z.literal('minimum'),
        params: z.object({ credits: amount, label: label.optional() }).strict(),
      })
      .strict(),
    unavailableEvent,
  ]);
}

function ruleSchema(kind: JobKind, section: 'pricing' | 'availability') {
  return z
    .object({
      name: label,
      description: z.string().max(2000).optional(),
      priority: z.number().int().min(1).max(LIMITS.rulePriorityMax).optional(),
      conditions: conditionsSchema(FACTS_BY_KIND[kind]),
      event: section === 'pricing' ? pricingEventSchema(kind) : unavailableEvent,
    })
    .strict();
}

function sectionSchema(section: 'pricing' | 'availability') {
  const rules = (kind: JobKind) =>
    z.array(ruleSchema(kind, section)).max(LIMITS.rulesPerSectionMax);
  return z
    .object({
      video: rules('video'),
      image: rules('image'),
      ai: rules('ai'),
      audio: rules('audio'),
    })
    .strict();
}

const exampleWorkspaceSchema = z
  .object({
    plan: z.string().max(100).optional(),
    features: z.array(z.string().max(100)).max(100).optional(),
    trialRemaining: z.number().int().min(0).optional(),
  })
  .strict();

const exampleSchema = z
  .object({
    name: label,
    job: jobSchema,
    workspace: exampleWorkspaceSchema.optional(),
    expect: z.union([
      z.object({ credits: z.number().int().min(0), trialApplies: z.boolean().optional() }).strict(),
      z.object({ unavailable: z.enum(UNAVAILABLE_REASONS) }).strict(),
    ]),
  })
  .strict();

const trialSchema = z
  .object({
    /** Who gets the trial: conditions over `plan` and `trialEligible` (the plan's flag). */
    eligibility: conditionsSchema(TRIAL_ELIGIBILITY_FACTS),
    grant: z
      .object({
        credits: amount,
        restriction: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'lowercase name, e.g. "trial"'),
        message: z.string().min(1).max(500),
      })
      .strict(),
    /** Which video jobs trial credits may pay for: conditions over the video facts. */
    accepts: conditionsSchema(FACTS_BY_KIND.video),
  })
  .strict();

/** The zod schema of a rule document's structure (conditions are checked per job kind). */
export const ruleDocumentSchema = z
  .object({
    schemaVersion: z.literal(1),
    name: z.string().max(200).optional(),
    description: z.string().max(5000).optional(),
    pricing: sectionSchema('pricing'),
    availability: sectionSchema('availability'),
    trial: trialSchema,
    examples: z.array(exampleSchema).max(LIMITS.examplesMax),
  })
  .strict();

export type RuleDocument = z.infer<typeof ruleDocumentSchema>;
export type Rule = RuleDocument['pricing']['video'][number];
export type RuleExample = RuleDocument['examples'][number];
export type ExampleWorkspace = z.infer<typeof exampleWorkspaceSchema>;
export type RuleSection = 'pricing' | 'availability';

/** Event types a document may use (re-exported for editors). */
export const KNOWN_EVENT_TYPES = EVENT_TYPES;

/** Formats a path as `pricing.video[3].conditions.all[0].operator`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key))
      out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}
