import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  RESOLUTIONS,
  VIDEO_TYPES,
  IMAGE_TYPES,
  IMAGE_QUALITIES,
  compileRuleDocument,
  defaultRuleDocument,
  priceWithEngine,
  runExamples,
  trialGrant,
  validateRuleDocument,
  type Job,
  type PriceOutcome,
  type Priced,
  type WorkspaceFacts,
} from './index.js';
import { defaultRuleDocumentSource } from './default-rules.js';

const ws = (over: Partial<WorkspaceFacts> = {}): WorkspaceFacts => ({
  plan: 'free',
  features: [],
  trialRemaining: 50,
  ...over,
});
const pricer = compileRuleDocument(defaultRuleDocument, 7);

function priced(out: PriceOutcome): Priced {
  if (!out.ok) throw new Error(`expected a price, got ${out.reason}: ${out.message}`);
  return out;
}

describe('default rule document', () => {
  it('validates, with every example passing', () => {
    const result = validateRuleDocument(defaultRuleDocumentSource);
    expect(result.ok ? [] : result.errors).toEqual([]);
    const report = runExamples(defaultRuleDocument);
    expect(report.failed).toEqual([]);
    expect(report.passed).toBe(defaultRuleDocument.examples.length);
    expect(defaultRuleDocument.examples.length).toBeGreaterThanOrEqual(30);
  });

  it('validates as JSON text, and src/default-rules.json matches the seed', () => {
    const text = readFileSync(new URL('./default-rules.json', import.meta.url), 'utf8');
    expect(JSON.parse(text)).toEqual(defaultRuleDocumentSource);
    expect(validateRuleDocument(text).ok).toBe(true);
  });

  it('is deep-frozen', () => {
    expect(Object.isFrozen(defaultRuleDocument)).toBe(true);
    expect(Object.isFrozen(defaultRuleDocument.pricing.video[0]!.event)).toBe(true);
  });

  it('prices 5 s Standard 720p at 50 credits, payable by the trial', async () => {
    const job: Job = { kind: 'video', type: 'standard', durationSec: 5, resolution: '720p' };
    const out = priced(pricer.price(job, ws()));
    expect(out).toMatchObject({ credits: 50, trialApplies: true, ruleVersion: 7 });
    expect(out.breakdown).toEqual([
      { label: 'Standard Video, 720p: 5 s × 10', type: 'rate', credits: 50 },
    ]);
    expect(await priceWithEngine(defaultRuleDocument, 7, job, ws())).toEqual(out);
  });

  it('does not let the trial pay for a 6 s job (60 credits)', async () => {
    const job: Job = { kind: 'video', type: 'standard', durationSec: 6, resolution: '720p' };
    expect(pricer.price(job, ws())).toMatchObject({ ok: true, credits: 60, trialApplies: false });
    expect(await priceWithEngine(defaultRuleDocument, 7, job, ws())).toMatchObject({
      credits: 60,
      trialApplies: false,
    });
  });

  it.each([
    ['480p', 'standard', 5],
    ['1080p', 'standard', 5],
    ['720p', 'premium', 5],
    ['720p', 'reference', 5],
  ] as const)('trial does not apply to %s %s', (resolution, type, durationSec) => {
    const out = priced(pricer.price({ kind: 'video', type, durationSec, resolution }, ws()));
    expect(out.trialApplies).toBe(false);
  });

  it('Standard 720p is 10 credits a second at every length', () => {
    for (let s = 1; s <= 600; s++) {
      expect(
        priced(
          pricer.price(
            { kind: 'video', type: 'standard', durationSec: s, resolution: '720p' },
            ws(),
          ),
        ).credits,
      ).toBe(10 * s);
    }
  });

  it('refuses Video Edit without the video_edit feature and prices it with the feature', async () => {
    const job: Job = { kind: 'video', type: 'edit', durationSec: 5, resolution: '720p' };
    const refused = pricer.price(job, ws({ features: ['api_access'] }));
    expect(refused).toEqual({
      ok: false,
      reason: 'FEATURE_UNAVAILABLE',
      message: 'Video Edit is not available on this plan.',
      ruleVersion: 7,
    });
    expect(await priceWithEngine(defaultRuleDocument, 7, job, ws())).toEqual(refused);
    expect(pricer.price(job, ws({ features: ['video_edit'] }))).toMatchObject({
      ok: true,
      credits: 40,
    });
  });

  it('answers COMING_SOON for every audio job', () => {
    for (const job of [
      { kind: 'audio' },
      { kind: 'audio', type: 'music', durationSec: 30 },
      { kind: 'audio', type: 'sfx' },
    ] as Job[]) {
      expect(pricer.price(job, ws({ features: ['video_edit'] }))).toMatchObject({
        ok: false,
        reason: 'COMING_SOON',
      });
    }
  });

  it('prices every video type × resolution × option combination, lines summing to the total', () => {
    const feat = ws({ features: ['video_edit'] });
    for (const type of VIDEO_TYPES)
      for (const resolution of RESOLUTIONS)
        for (const audio of [undefined, false, true])
          for (const fps of [undefined, 24, 30, 60] as const)
            for (const referenceImages of [undefined, 0, 1, 10])
              for (const durationSec of [1, 5, 61, 600]) {
                const options = {
                  ...(audio !== undefined ? { audio } : {}),
                  ...(fps !== undefined ? { fps } : {}),
                  ...(referenceImages !== undefined ? { referenceImages } : {}),
                };
                const out = priced(
                  pricer.price({ kind: 'video', type, resolution, durationSec, options }, feat),
                );
                expect(out.credits).toBeGreaterThan(0);
                expect(out.breakdown.reduce((s, l) => s + l.credits, 0)).toBe(out.credits);
              }
  });

  it('prices every image type × quality × count, with volume discounts never raising the unit price beyond rounding', () => {
    for (const type of IMAGE_TYPES)
      for (const quality of [undefined, ...IMAGE_QUALITIES]) {
        let prevPerImage = Infinity;
        for (const count of [1, 9, 10, 49, 50, 100]) {
          const out = priced(
            pricer.price({ kind: 'image', type, count, ...(quality ? { quality } : {}) }, ws()),
          );
          expect(out.credits).toBeGreaterThan(0);
          expect(out.breakdown.reduce((s, l) => s + l.credits, 0)).toBe(out.credits);
          const perImage = out.credits / count;
          // Each multiplier rounds up once, so two of them may add up to 2 credits to the job.
          expect(perImage).toBeLessThanOrEqual(prevPerImage + 2 / count);
          prevPerImage = perImage;
        }
      }
  });

  it('charges AI tokens 1:1', () => {
    for (const tokens of [1, 999, 1000, 1001, 10_000_000]) {
      expect(pricer.price({ kind: 'ai', tokens }, ws())).toMatchObject({
        ok: true,
        credits: tokens,
        trialApplies: false,
      });
    }
  });

  it('grants the trial to trial-eligible plans only, with the exact banner text', () => {
    expect(trialGrant(defaultRuleDocument, { trialEligible: true, plan: 'free' })).toEqual({
      credits: 50,
      restriction: 'trial',
      message: 'Free trial includes one 5-second Standard Video at 720p.',
    });
    expect(trialGrant(defaultRuleDocument, { trialEligible: false, plan: 'free' })).toBeNull();
  });

  it('lets a document restrict the trial to some plans', () => {
    const doc = structuredClone(defaultRuleDocumentSource);
    doc.trial.eligibility = {
      all: [
        { fact: 'trialEligible', operator: 'equal', value: true },
        { fact: 'plan', operator: 'in', value: ['free', 'starter'] },
      ],
    };
    const v = validateRuleDocument(doc);
    if (!v.ok) throw new Error(JSON.stringify(v.errors));
    expect(trialGrant(v.doc, { trialEligible: true, plan: 'starter' })).not.toBeNull();
    expect(trialGrant(v.doc, { trialEligible: true, plan: 'pro' })).toBeNull();
  });
});
