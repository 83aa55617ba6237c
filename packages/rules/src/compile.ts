import { combine, normalizeEvent, type CombinerEvent } from './combine.js';
import { compileCondition, type Predicate } from './conditions.js';
import { JOB_KINDS, type RuleDocument } from './document.js';
import { FACTS_BY_KIND } from './facts.js';
import type { Job, JobKind, WorkspaceFacts } from './job.js';
import { orderedRules } from './order.js';
import type { PriceOutcome, Pricer } from './types.js';

interface CompiledRule {
  readonly key: string;
  readonly when: Predicate;
  readonly event: CombinerEvent;
}

interface CompiledKind {
  readonly availability: readonly CompiledRule[];
  readonly pricing: readonly CompiledRule[];
  readonly trial: Predicate | null;
}

function compileKind(doc: RuleDocument, kind: JobKind): CompiledKind {
  const facts = FACTS_BY_KIND[kind];
  const availability: CompiledRule[] = [];
  const pricing: CompiledRule[] = [];
  for (const r of orderedRules(doc, kind)) {
    const compiled = {
      key: r.key,
      when: compileCondition(r.rule.conditions, facts),
      event: normalizeEvent(r.rule.event),
    };
    (r.section === 'availability' ? availability : pricing).push(compiled);
  }
  const trial = kind === 'video' ? compileCondition(doc.trial.accepts, facts) : null;
  return { availability, pricing, trial };
}

/**
 * Compiles a validated rule document into plain closures, once per version: every condition
 * becomes a predicate over (job, workspace), every event a ready combiner event. `price()` is
 * synchronous, reads facts straight from the job, and allocates only the events it matched and
 * the answer. Same rule order and the same `combine()` as `priceWithEngine`, so both agree.
 *
 * @example
 * const pricer = compileRuleDocument(defaultRuleDocument, 1);
 * pricer.price({ kind: 'video', type: 'standard', durationSec: 5, resolution: '720p' }, ws);
 * // → { ok: true, credits: 50, trialApplies: true, ruleVersion: 1, breakdown: [...] }
 */
export function compileRuleDocument(doc: RuleDocument, version: number): Pricer {
  const kinds = {} as Record<JobKind, CompiledKind>;
  for (const kind of JOB_KINDS) kinds[kind] = compileKind(doc, kind);

  function price(job: Job, workspace: WorkspaceFacts): PriceOutcome {
    const k = kinds[job.kind];
    if (k === undefined)
      throw new TypeError(`price: unknown job kind ${String((job as { kind: unknown }).kind)}`);
    const avail = k.availability;
    for (let i = 0; i < avail.length; i++) {
      const r = avail[i]!;
      if (r.when(job, workspace)) {
        const out = combine({ events: [r.event], job });
        return { ...out, ruleVersion: version } as PriceOutcome;
      }
    }
    const matched: CombinerEvent[] = [];
    const rules = k.pricing;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      if (r.when(job, workspace)) matched.push(r.event);
    }
    const out = combine({ events: matched, job });
    if (!out.ok)
      return { ok: false, reason: out.reason, message: out.message, ruleVersion: version };
    return {
      ok: true,
      credits: out.credits,
      breakdown: out.breakdown,
      trialApplies: k.trial !== null && k.trial(job, workspace),
      ruleVersion: version,
    };
  }

  return { version, price, usesTrialRemaining: readsFact(doc, 'trialRemaining') };
}

/** Does any condition anywhere in the document name this fact? */
function readsFact(node: unknown, fact: string): boolean {
  if (Array.isArray(node)) return node.some((n) => readsFact(n, fact));
  if (node !== null && typeof node === 'object') {
    const o = node as Record<string, unknown>;
    if (o.fact === fact) return true;
    return Object.values(o).some((v) => readsFact(v, fact));
  }
  return false;
}
