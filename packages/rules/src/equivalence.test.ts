import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FEATURES, PLANS, jobArb, videoJobArb, workspaceArb } from '../test/arbitraries.js';
import { defaultRuleDocumentSource } from './default-rules.js';
import {
  FACTS_BY_KIND,
  OPERATORS_BY_FACT_TYPE,
  compileRuleDocument,
  defaultRuleDocument,
  priceWithEngine,
  validateRuleDocument,
  type Condition,
  type Job,
  type RuleDocument,
  type TopLevelCondition,
} from './index.js';

const RUNS = 10_000;

/** Property: the compiled pricer and json-rules-engine give the same outcome for every job. */
function samePriceProperty(
  compiledDoc: RuleDocument,
  engineDoc: RuleDocument,
  jobs: fc.Arbitrary<Job>,
) {
  const pricer = compileRuleDocument(compiledDoc, 3);
  return fc.asyncProperty(jobs, workspaceArb, async (job, ws) => {
    const fast = pricer.price(job, ws);
    const reference = await priceWithEngine(engineDoc, 3, job, ws);
    expect(fast).toEqual(reference);
  });
}

describe('compiled path ≡ json-rules-engine', () => {
  it(`agrees on outcome, cost and breakdown for ${RUNS.toLocaleString('en-US')} random jobs (default document)`, async () => {
    await fc.assert(samePriceProperty(defaultRuleDocument, defaultRuleDocument, jobArb), {
      numRuns: RUNS,
    });
  });

  it('the property can fail: a one-credit change is found', async () => {
    const changed = structuredClone(defaultRuleDocumentSource);
    const rule = changed.pricing.image.find((r) => r.name === 'Icon per image')!;
    (rule.event.params as { perUnit: number }).perUnit += 1;
    const v = validateRuleDocument({ ...changed, examples: [] });
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    const result = await fc.check(samePriceProperty(defaultRuleDocument, v.doc, jobArb), {
      numRuns: RUNS,
    });
    expect(result.failed).toBe(true);
  });

  it('stays exact under concurrent engine runs', async () => {
    const pricer = compileRuleDocument(defaultRuleDocument, 1);
    const samples = fc.sample(fc.tuple(jobArb, workspaceArb), { numRuns: 2000, seed: 42 });
    const answers = await Promise.all(
      samples.map(([job, ws]) => priceWithEngine(defaultRuleDocument, 1, job, ws)),
    );
    answers.forEach((answer, i) => {
      const [job, ws] = samples[i]!;
      expect(answer).toEqual(pricer.price(job, ws));
    });
  });
});

// Random rule documents: every operator, nested all/any/not, every event type, priorities.
const numberValues: Record<string, fc.Arbitrary<number>> = {
  durationSec: fc.integer({ min: 0, max: 700 }),
  fps: fc.constantFrom(24, 25, 30, 60),
  referenceImages: fc.integer({ min: 0, max: 11 }),
  trialRemaining: fc.integer({ min: 0, max: 60 }),
};

function scalarFor(fact: string): fc.Arbitrary<string | number | boolean> {
  const def = FACTS_BY_KIND.video[fact]!;
  switch (def.type) {
    case 'number':
      return numberValues[fact]!;
    case 'boolean':
      return fc.boolean();
    case 'string':
      return def.values ? fc.constantFrom(...def.values) : fc.constantFrom(...PLANS);
    case 'string[]':
      return fc.constantFrom(...FEATURES);
  }
}

const leafArb: fc.Arbitrary<Condition> = fc
  .constantFrom(...Object.keys(FACTS_BY_KIND.video))
  .chain((fact) =>
    fc
      .constantFrom(...OPERATORS_BY_FACT_TYPE[FACTS_BY_KIND.video[fact]!.type])
      .chain((operator) =>
        (operator === 'in' || operator === 'notIn'
          ? fc.uniqueArray(scalarFor(fact), { minLength: 0, maxLength: 4 })
          : scalarFor(fact)
        ).map((value) => ({ fact, operator, value }) as Condition),
      ),
  );

const { node: conditionArb } = fc.letrec<{ node: Condition }>((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    leafArb,
    fc.record({ all: fc.array(tie('node'), { maxLength: 3 }) }),
    fc.record({ any: fc.array(tie('node'), { minLength: 1, maxLength: 3 }) }),
    fc.record({ not: tie('node') }),
  ),
}));

const topArb: fc.Arbitrary<TopLevelCondition> = fc.oneof(
  fc.record({ all: fc.array(conditionArb, { maxLength: 4 }) }),
  fc.record({ any: fc.array(conditionArb, { minLength: 1, maxLength: 4 }) }),
  fc.record({ not: conditionArb }),
);

const pricingEventArb = fc.oneof(
  {
    arbitrary: fc
      .record({
        perUnit: fc.integer({ min: 0, max: 50 }),
        unit: fc.constantFrom('second', 'reference_image'),
      })
      .map((p) => ({ type: 'rate', params: { ...p, label: 'Rate' } })),
    weight: 4,
  },
  {
    arbitrary: fc
      .integer({ min: 0, max: 500 })
      .map((credits) => ({ type: 'flat', params: { credits, label: 'Flat' } })),
    weight: 2,
  },
  {
    arbitrary: fc
      .constantFrom(0, 0.5, 0.75, 1, 1.25, 1.3333, 2.5)
      .map((factor) => ({ type: 'multiplier', params: { factor, label: 'Mult' } })),
    weight: 3,
  },
  {
    arbitrary: fc
      .integer({ min: 0, max: 2000 })
      .map((credits) => ({ type: 'minimum', params: { credits } })),
    weight: 1,
  },
  {
    arbitrary: fc.constant({
      type: 'unavailable',
      params: { reason: 'COMING_SOON', message: 'Later.' },
    }),
    weight: 1,
  },
);

const ruleArb = (event: fc.Arbitrary<unknown>) =>
  fc.record(
    { name: fc.constant('r'), priority: fc.integer({ min: 1, max: 4 }), conditions: topArb, event },
    { requiredKeys: ['name', 'conditions', 'event'] },
  );

const videoDocArb: fc.Arbitrary<RuleDocument> = fc
  .record({
    pricing: fc.array(ruleArb(pricingEventArb), { maxLength: 8 }),
    availability: fc.array(
      ruleArb(
        fc.constant({
          type: 'unavailable',
          params: { reason: 'FEATURE_UNAVAILABLE', message: 'No.' },
        }),
      ),
      { maxLength: 2 },
    ),
    accepts: topArb,
  })
  .map(({ pricing, availability, accepts }) => {
    const doc: any = structuredClone(defaultRuleDocumentSource);
    doc.pricing.video = pricing;
    doc.availability.video = availability;
    doc.trial.accepts = accepts;
    doc.examples = [];
    const v = validateRuleDocument(doc);
    if (!v.ok) throw new Error(`generated an invalid document: ${JSON.stringify(v.errors)}`);
    return v.doc;
  });

describe('compiled conditions ≡ json-rules-engine conditions (random documents)', () => {
  it('agrees for 400 random documents × 15 random video jobs', async () => {
    await fc.assert(
      fc.asyncProperty(
        videoDocArb,
        fc.array(fc.tuple(videoJobArb, workspaceArb), { minLength: 15, maxLength: 15 }),
        async (doc, cases) => {
          const pricer = compileRuleDocument(doc, 1);
          for (const [job, ws] of cases) {
            expect(pricer.price(job, ws)).toEqual(await priceWithEngine(doc, 1, job, ws));
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
