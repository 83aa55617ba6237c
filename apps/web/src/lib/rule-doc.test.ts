import { describe, expect, it } from 'vitest';
import { acceptExamplePrices, lineOfPath, priceRows, repricedExamples, setPrice } from './rule-doc';

function doc() {
  return {
    schemaVersion: 1,
    pricing: {
      video: [
        {
          name: 'Standard 720p',
          event: {
            type: 'rate',
            params: { perUnit: 10, unit: 'second', label: 'Standard Video, 720p' },
          },
        },
        {
          name: '60 fps',
          event: { type: 'multiplier', params: { factor: 1.25, label: '60 fps' } },
        },
      ],
      image: [
        {
          name: 'Hero image',
          event: { type: 'rate', params: { perUnit: 8, unit: 'image', label: 'Hero image' } },
        },
      ],
    },
    examples: [
      { name: 'trial', job: { kind: 'video' }, expect: { credits: 50, trialApplies: true } },
      { name: 'hero', job: { kind: 'image' }, expect: { credits: 8 } },
    ],
  };
}

describe('rule documents in the editor', () => {
  it('reads a price table from the pricing section', () => {
    const rows = priceRows(doc());
    expect(rows.map((r) => [r.kind, r.name, r.field, r.value, r.path])).toEqual([
      ['video', 'Standard 720p', 'perUnit', 10, 'pricing.video[0]'],
      ['video', '60 fps', 'factor', 1.25, 'pricing.video[1]'],
      ['image', 'Hero image', 'perUnit', 8, 'pricing.image[0]'],
    ]);
    expect(priceRows(null)).toEqual([]);
    expect(priceRows({ pricing: 'nope' })).toEqual([]);
  });

  it('changes one price in a copy, leaving the original alone', () => {
    const original = doc();
    const next = setPrice(
      original,
      { kind: 'image', index: 0, field: 'perUnit' },
      12,
    ) as ReturnType<typeof doc>;
    expect(next.pricing.image[0]!.event.params.perUnit).toBe(12);
    expect(original.pricing.image[0]!.event.params.perUnit).toBe(8);
  });

  it('turns "expected N, got M" example failures into new expected prices', () => {
    const errors = [
      { path: 'examples[1]', message: 'example "hero": expected 8, got 12' },
      { path: 'examples[0]', message: 'example "trial": expected trialApplies true, got false' },
      { path: 'pricing.video[0].event.params.perUnit', message: 'must be positive' },
    ];
    const fixes = repricedExamples(errors);
    expect(fixes).toEqual([{ index: 1, credits: 12 }]);
    const next = acceptExamplePrices(doc(), fixes) as ReturnType<typeof doc>;
    expect(next.examples[1]!.expect).toEqual({ credits: 12 });
    expect(next.examples[0]!.expect).toEqual({ credits: 50, trialApplies: true });
  });

  it('finds the line of a JSON path in the editor text', () => {
    const text = JSON.stringify(doc(), null, 2);
    const line = lineOfPath(text, 'pricing.image[0].event.params.perUnit');
    expect(text.split('\n')[line! - 1]).toContain('"perUnit": 8');
    expect(lineOfPath(text, 'nowhere')).toBeNull();
  });
});
