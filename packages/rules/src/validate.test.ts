import { Engine } from 'json-rules-engine';
import { describe, expect, it } from 'vitest';
import { defaultRuleDocumentSource } from './default-rules.js';
import {
  ENGINE_OPTIONS,
  JsonPathRefusedError,
  LIMITS,
  validateRuleDocument,
  type RuleDocument,
  type ValidationError,
} from './index.js';

/** A fresh, mutable copy of the seed: fixtures are factories, not shared state. */
const seed = (): any => structuredClone<RuleDocument>(defaultRuleDocumentSource);

function errorsOf(input: unknown): ValidationError[] {
  const result = validateRuleDocument(input);
  return result.ok ? [] : result.errors;
}

function expectRefused(input: unknown, path: string, message: RegExp): ValidationError[] {
  const errors = errorsOf(input);
  expect(errors, `expected an error at ${path}`).toContainEqual({
    path,
    message: expect.stringMatching(message),
  });
  return errors;
}

/** pricing.video[0] is "Standard Video, 480p per second": all [type = standard, resolution = 480p]. */
const FIRST_LEAF = 'pricing.video[0].conditions.all[0]';

describe('validateRuleDocument: hostile documents', () => {
  it('refuses __proto__ keys that came through JSON.parse, with their path', () => {
    const doc = seed();
    const text = JSON.stringify(doc).replace(
      '"schemaVersion":1',
      '"__proto__":{"polluted":true},"schemaVersion":1',
    );
    const parsed = JSON.parse(text);
    expect(Object.hasOwn(parsed, '__proto__')).toBe(true);
    expectRefused(parsed, '__proto__', /not allowed/);
    expectRefused(text, '__proto__', /not allowed/);
    expect(({} as any).polluted).toBeUndefined();
  });

  it('reports every problem of a document with several: a refused key does not hide a bad price', () => {
    const doc = seed();
    doc.pricing.video[0].event.params.perUnit = -1;
    doc.pricing.image[0].event.params.perUnit = -5;
    const withKey = JSON.parse(
      JSON.stringify(doc).replace('"schemaVersion":1', '"constructor":{"a":1},"schemaVersion":1'),
    );
    const r = validateRuleDocument(withKey);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.path)).toEqual([
      'constructor',
      'pricing.video[0].event.params.perUnit',
      'pricing.image[0].event.params.perUnit',
    ]);
  });

  it('refuses __proto__, constructor and prototype keys deep inside', () => {
    const doc = seed();
    doc.pricing.video[2].event.params = JSON.parse(
      '{"perUnit":1,"unit":"second","label":"x","__proto__":{"a":1}}',
    );
    doc.trial.grant.constructor = { prototype: {} };
    doc.examples[0].job.prototype = 1;
    const errors = errorsOf(doc);
    expect(errors.map((e) => e.path)).toEqual(
      expect.arrayContaining([
        'pricing.video[2].event.params.__proto__',
        'trial.grant.constructor',
        'examples[0].job.prototype',
      ]),
    );
  });

  it('refuses a JSONPath "path" in a condition', () => {
    const doc = seed();
    doc.pricing.video[0].conditions.all[0].path =
      '$..[?(@.constructor.constructor("return process")())]';
    expectRefused(doc, `${FIRST_LEAF}.path`, /JSONPath/);
  });

  it('refuses 10,000-deep nesting cheaply, as a value and as text', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = { all: [deep] };
    const doc = seed();
    doc.pricing.video[0].conditions = deep;
    const t0 = performance.now();
    const errors = errorsOf(doc);
    expect(performance.now() - t0).toBeLessThan(200);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toMatch(/deeper than 32/);
    expect(errors[0]!.path.startsWith('pricing.video[0].conditions.all[0].all[0]')).toBe(true);

    const text = `{"pricing":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    expect(errorsOf(text)[0]!.message).toMatch(/deeper than 32/);
  });

  it('refuses a 5 MB document cheaply, as a value and as text', () => {
    const doc = seed();
    doc.description = 'x'.repeat(5 * 1024 * 1024);
    const t0 = performance.now();
    expect(errorsOf(doc)).toEqual([
      { path: '', message: expect.stringMatching(/larger than 256 KiB/) },
    ]);
    expect(performance.now() - t0).toBeLessThan(200);
    expect(errorsOf(JSON.stringify(doc))[0]!.message).toMatch(/larger than 256 KiB/);

    const wide = seed();
    wide.examples = Array.from({ length: 1_000_000 }, () => 0);
    expect(errorsOf(wide)[0]!.message).toMatch(/larger than/);
  });

  it('refuses an unknown operator (including decorated ones) at its path', () => {
    const doc = seed();
    doc.pricing.video[0].conditions.all[0].operator = 'regex';
    doc.pricing.video[1].conditions.all[0].operator = 'not:equal';
    const errors = expectRefused(doc, `${FIRST_LEAF}.operator`, /unknown operator "regex"/);
    expect(errors).toContainEqual({
      path: 'pricing.video[1].conditions.all[0].operator',
      message: expect.stringMatching(/unknown operator/),
    });
  });

  it('refuses an operator that does not fit the fact type', () => {
    const doc = seed();
    doc.pricing.video[0].conditions.all[0].operator = 'greaterThan';
    expectRefused(doc, `${FIRST_LEAF}.operator`, /does not apply to string fact "type"/);
  });

  it('refuses unknown facts and facts of another job kind', () => {
    const doc = seed();
    doc.pricing.video[0].conditions.all[0].fact = 'planet';
    doc.pricing.video[1].conditions.all[0].fact = 'tokens';
    expectRefused(doc, `${FIRST_LEAF}.fact`, /unknown fact "planet"/);
    expectRefused(doc, 'pricing.video[1].conditions.all[0].fact', /unknown fact "tokens"/);
  });

  it('refuses values that are not values of an enumerated fact', () => {
    const doc = seed();
    doc.pricing.video[1].conditions.all[1].value = '720P';
    expectRefused(
      doc,
      'pricing.video[1].conditions.all[1].value',
      /"720P" is not a value of "resolution"/,
    );
  });

  it('refuses NaN, Infinity, negative, fractional and huge rates', () => {
    const cases: [unknown, RegExp][] = [
      [Number.NaN, /finite/],
      [Number.POSITIVE_INFINITY, /finite/],
      [-10, /expected number to be >=0|Too small/i],
      [2.5, /int/i],
      [1e7, /<=1000000|Too big/i],
    ];
    for (const [perUnit, message] of cases) {
      const doc = seed();
      doc.pricing.video[3].event.params.perUnit = perUnit;
      expectRefused(doc, 'pricing.video[3].event.params.perUnit', message);
    }
  });

  it('refuses out-of-range and inexact multipliers', () => {
    for (const factor of [101, -0.5, 1.23456]) {
      const doc = seed();
      const fps = doc.pricing.video.findIndex((r: any) => r.event.type === 'multiplier');
      doc.pricing.video[fps].event.params.factor = factor;
      expect(errorsOf(doc).map((e) => e.path)).toContain(
        `pricing.video[${fps}].event.params.factor`,
      );
    }
  });

  it('refuses an unknown event type, naming event.type', () => {
    const doc = seed();
    doc.pricing.image[0].event = { type: 'runScript', params: { code: 'process.exit()' } };
    expectRefused(doc, 'pricing.image[0].event.type', /Expected 'rate'/);
  });

  it('refuses a rate unit that does not fit the job kind', () => {
    const doc = seed();
    doc.pricing.image[0].event.params.unit = 'second';
    expectRefused(doc, 'pricing.image[0].event.params.unit', /image rates use unit image/);
  });

  it('refuses pricing events in the availability section', () => {
    const doc = seed();
    doc.availability.video[0].event = { type: 'flat', params: { credits: 1, label: 'x' } };
    expect(errorsOf(doc).map((e) => e.path)).toContain('availability.video[0].event.type');
  });

  it('refuses fact references, params, condition references, empty any and a leaf at the root', () => {
    const doc = seed();
    doc.pricing.video[0].conditions.all[0].value = { fact: 'plan' };
    doc.pricing.video[1].conditions.all[0].params = { x: 1 };
    doc.pricing.video[2].conditions = { condition: 'shared' };
    doc.pricing.video[3].conditions = { any: [] };
    doc.pricing.video[4].conditions = { fact: 'type', operator: 'equal', value: 'standard' };
    doc.pricing.video[5].conditions.all[0].operator = 'in';
    const paths = errorsOf(doc).map((e) => e.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        `${FIRST_LEAF}.value`,
        'pricing.video[1].conditions.all[0].params',
        'pricing.video[2].conditions.condition',
        'pricing.video[3].conditions.any',
        'pricing.video[4].conditions',
        'pricing.video[5].conditions.all[0].value',
      ]),
    );
  });

  it('refuses non-JSON values: functions, undefined, class instances', () => {
    const doc = seed();
    doc.name = () => 'x';
    doc.description = new Date();
    doc.examples[0].name = undefined;
    const paths = errorsOf(doc).map((e) => e.path);
    expect(paths).toEqual(expect.arrayContaining(['name', 'description', 'examples[0].name']));
  });

  it('refuses unknown keys and invalid JSON text', () => {
    const doc = seed();
    doc.pricing.video[0].script = 'x';
    expectRefused(doc, 'pricing.video[0].script', /unknown key/);
    expect(errorsOf('{"schemaVersion":')[0]!.message).toMatch(/invalid JSON/);
    expect(errorsOf(null).length).toBeGreaterThan(0);
  });

  it('refuses a document whose examples fail, naming each one', () => {
    const doc = seed();
    doc.pricing.video[1].event.params.perUnit = 11; // Standard 720p: 10 → 11
    const errors = errorsOf(doc);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => /^examples\[\d+\]$/.test(e.path))).toBe(true);
    expect(errors).toContainEqual({
      path: 'examples[0]',
      message: expect.stringMatching(/expected 50, got 55/),
    });
  });

  it('returns a frozen copy detached from the input', () => {
    const doc = seed();
    const result = validateRuleDocument(doc);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    doc.pricing.video[1].event.params.perUnit = 999;
    expect((result.doc.pricing.video[1]!.event.params as { perUnit: number }).perUnit).toBe(10);
    expect(Object.isFrozen(result.doc.pricing.video[1]!.event.params)).toBe(true);
  });

  it('caps the number of errors', () => {
    const doc = seed();
    for (const rule of doc.pricing.video) rule.extra = 1;
    for (const rule of doc.pricing.image) rule.extra = 1;
    const errors = errorsOf(doc);
    expect(errors.length).toBeGreaterThan(10);
    expect(errors.length).toBeLessThanOrEqual(LIMITS.errorsMax);
  });
});

describe('engine options', () => {
  it('install a pathResolver that evaluates no JSONPath', async () => {
    const engine = new Engine(
      [
        {
          conditions: {
            all: [{ fact: 'job', path: '$.type', operator: 'equal', value: 'standard' }],
          },
          event: { type: 'flat' },
        },
      ],
      { ...ENGINE_OPTIONS },
    );
    await expect(engine.run({ job: { type: 'standard' } })).rejects.toBeInstanceOf(
      JsonPathRefusedError,
    );
  });

  it('set allowUndefinedFacts explicitly', () => {
    expect(ENGINE_OPTIONS.allowUndefinedFacts).toBe(true);
  });
});
