import type { z } from 'zod';
import { compileRuleDocument } from './compile.js';
import { LIMITS, formatPath, ruleDocumentSchema, type RuleDocument } from './document.js';
import type { WorkspaceFacts } from './job.js';

export interface ValidationError {
  /** JSON path of the problem, e.g. `pricing.video[3].conditions.all[0].operator` ('' = root). */
  path: string;
  message: string;
}

export type ValidationResult =
  { ok: true; doc: RuleDocument } | { ok: false; errors: ValidationError[] };

/** Keys refused anywhere in a document: they reach object prototypes in careless code. */
export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set([
  '__proto__',
  'constructor',
  'prototype',
]);

/** The workspace an example runs against unless it says otherwise. */
export const EXAMPLE_WORKSPACE_DEFAULT: WorkspaceFacts = Object.freeze({
  plan: 'free',
  features: Object.freeze([]),
  trialRemaining: 0,
});

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Preflight's two early stops (size, depth): nothing past them has been looked at. */
function stoppedEarly(e: ValidationError): boolean {
  return e.message === tooLarge().message || e.message.startsWith('nesting is deeper than');
}

const tooLarge = (): ValidationError => ({
  path: '',
  message: `document is larger than ${LIMITS.sizeBytesMax / 1024} KiB`,
});

/**
 * One iterative pass over an untrusted value, before any recursive code touches it: bounds
 * depth and (estimated serialized) size, stopping as soon as either is exceeded, and refuses
 * prototype keys, non-finite numbers and anything that is not plain JSON. It never recurses,
 * so a 10,000-deep value costs 33 steps and a 5 MB one stops at the size budget.
 */
export function preflight(root: unknown): ValidationError[] {
  const errors: ValidationError[] = [];
  const keys: (string | number | null)[] = [null];
  const parents: number[] = [-1];
  const values: unknown[] = [root];
  const depths: number[] = [1];
  const stack: number[] = [0];
  let size = 0;
  const pathOf = (idx: number): string => {
    const parts: (string | number)[] = [];
    for (let i = idx; i > 0; i = parents[i]!) parts.push(keys[i]!);
    return formatPath(parts.reverse());
  };
  const fail = (idx: number, message: string): void => {
    if (errors.length < LIMITS.errorsMax) errors.push({ path: pathOf(idx), message });
  };
  const push = (value: unknown, key: string | number, parent: number, depth: number): void => {
    keys.push(key);
    parents.push(parent);
    values.push(value);
    depths.push(depth);
    stack.push(values.length - 1);
  };
  while (stack.length > 0) {
    const idx = stack.pop()!;
    const v = values[idx];
    switch (typeof v) {
      case 'string':
        size += v.length + 2;
        break;
      case 'number':
        size += 8;
        if (!Number.isFinite(v)) fail(idx, 'numbers must be finite (no NaN or Infinity)');
        break;
      case 'boolean':
        size += 5;
        break;
      case 'object': {
        if (v === null) {
          size += 4;
          break;
        }
        const depth = depths[idx]!;
        if (depth > LIMITS.depthMax) {
          return [
            { path: pathOf(idx), message: `nesting is deeper than ${LIMITS.depthMax} levels` },
          ];
        }
        if (Array.isArray(v)) {
          size += v.length + 1;
          if (size > LIMITS.sizeBytesMax) return [tooLarge()];
          for (let i = v.length - 1; i >= 0; i--) push(v[i], i, idx, depth + 1);
          break;
        }
        const proto = Object.getPrototypeOf(v);
        if (proto !== Object.prototype && proto !== null) {
          fail(idx, 'only plain JSON objects are allowed');
          break;
        }
        const own = Object.keys(v);
        size += own.length * 4 + 1;
        if (size > LIMITS.sizeBytesMax) return [tooLarge()];
        for (let i = own.length - 1; i >= 0; i--) {
          const key = own[i]!;
          size += key.length;
          if (FORBIDDEN_KEYS.has(key)) {
            keys.push(key);
            parents.push(idx);
            values.push(undefined);
            depths.push(depth + 1);
            fail(values.length - 1, `key "${key}" is not allowed`);
            continue;
          }
          push((v as Record<string, unknown>)[key], key, idx, depth + 1);
        }
        if (Object.getOwnPropertySymbols(v).length > 0) fail(idx, 'symbol keys are not allowed');
        break;
      }
      case 'undefined':
      case 'function':
      case 'symbol':
      case 'bigint':
        fail(idx, `${typeof v} is not a JSON value`);
        break;
    }
    if (size > LIMITS.sizeBytesMax) return [tooLarge()];
  }
  return errors;
}

function zodErrors(issues: readonly z.core.$ZodIssue[]): ValidationError[] {
  const out: ValidationError[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys)
        out.push({ path: formatPath([...issue.path, key]), message: `unknown key "${key}"` });
    } else {
      out.push({ path: formatPath(issue.path), message: issue.message });
    }
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export interface ExampleFailure {
  index: number;
  name: string;
  /** Expected credits, or the expected unavailable reason. */
  expected: number | string;
  /** Credits, the unavailable reason, or the error the example raised. */
  actual: number | string;
  /** What differed, in words. */
  message: string;
}

export interface ExamplesReport {
  passed: number;
  failed: ExampleFailure[];
}

/** Prices every example of a (structurally valid) document with its compiled form. */
export function runExamples(doc: RuleDocument): ExamplesReport {
  const pricer = compileRuleDocument(doc, 0);
  const failed: ExampleFailure[] = [];
  let passed = 0;
  doc.examples.forEach((ex, index) => {
    const ws: WorkspaceFacts = { ...EXAMPLE_WORKSPACE_DEFAULT, ...ex.workspace };
    const expected = 'credits' in ex.expect ? ex.expect.credits : ex.expect.unavailable;
    let actual: number | string;
    let message: string | null = null;
    try {
      const out = pricer.price(ex.job, ws);
      actual = out.ok ? out.credits : out.reason;
      if (actual !== expected) {
        message = `expected ${String(expected)}, got ${String(actual)}`;
      } else if (out.ok && 'trialApplies' in ex.expect && ex.expect.trialApplies !== undefined) {
        if (out.trialApplies !== ex.expect.trialApplies) {
          message = `expected trialApplies ${String(ex.expect.trialApplies)}, got ${String(out.trialApplies)}`;
        }
      }
    } catch (err) {
      actual = `error: ${err instanceof Error ? err.message : String(err)}`;
      message = actual;
    }
    if (message === null) passed++;
    else failed.push({ index, name: ex.name, expected, actual, message });
  });
  return { passed, failed };
}

/**
 * Validates an untrusted rule document (a parsed value or JSON text) before it is saved:
 *
 * 1. preflight (iterative, cheap): size ≤ 256 KiB, depth ≤ 32, no `__proto__` / `constructor`
 *    / `prototype` keys, finite numbers, plain JSON only;
 * 2. schema (zod): sections, rule shapes, known event types, bounded amounts and factors, rate
 *    units that fit the job kind; conditions use known facts of the kind, allowed operators for
 *    the fact's type, literal values of the right type (enumerated facts: known values), and no
 *    JSONPath `path`, `params` or condition references;
 * 3. every example must pass (errors at `examples[i]`).
 *
 * On success `doc` is a deep-frozen copy, detached from the input.
 */
export function validateRuleDocument(input: unknown): ValidationResult {
  let value = input;
  if (typeof input === 'string') {
    if (input.length > LIMITS.sizeBytesMax || utf8Length(input) > LIMITS.sizeBytesMax) {
      return { ok: false, errors: [tooLarge()] };
    }
    try {
      value = JSON.parse(input);
    } catch (err) {
      return {
        ok: false,
        errors: [{ path: '', message: `invalid JSON: ${(err as Error).message}` }],
      };
    }
  }
  const pre = preflight(value);
  if (pre.length > 0) {
    // Too large or too deep: the pass stopped there, and nothing else may look at the value.
    if (pre.length === 1 && stoppedEarly(pre[0]!)) return { ok: false, errors: pre };
    // Otherwise the whole value was walked and is bounded plain JSON: check the schema too, on
    // a copy without the refused keys, so a document with several problems reports them all.
    const rest = ruleDocumentSchema.safeParse(
      JSON.parse(
        JSON.stringify(value, (k: string, v: unknown) => (FORBIDDEN_KEYS.has(k) ? undefined : v)),
      ),
    );
    const seen = new Set(pre.map((e) => e.path));
    const more = rest.success ? [] : zodErrors(rest.error.issues).filter((e) => !seen.has(e.path));
    return { ok: false, errors: [...pre, ...more].slice(0, LIMITS.errorsMax) };
  }
  // Detach from the caller's objects: safe now that size, depth and keys are bounded.
  const copy: unknown = JSON.parse(JSON.stringify(value));
  const parsed = ruleDocumentSchema.safeParse(copy);
  if (!parsed.success)
    return { ok: false, errors: zodErrors(parsed.error.issues).slice(0, LIMITS.errorsMax) };
  const doc = parsed.data;
  const report = runExamples(doc);
  if (report.failed.length > 0) {
    return {
      ok: false,
      errors: report.failed.slice(0, LIMITS.errorsMax).map((f) => ({
        path: `examples[${f.index}]`,
        message: `example "${f.name}": ${f.message}`,
      })),
    };
  }
  return { ok: true, doc: deepFreeze(doc) };
}
