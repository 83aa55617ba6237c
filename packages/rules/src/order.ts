import type { Rule, RuleDocument, RuleSection } from './document.js';
import type { JobKind } from './job.js';

export interface OrderedRule {
  /** Stable identity of the rule in its document, e.g. `pricing.video[3]`. */
  readonly key: string;
  readonly section: RuleSection;
  readonly index: number;
  readonly rule: Rule;
}

/** The json-rules-engine name of the trial-acceptance rule in the reference path. */
export const TRIAL_RULE_KEY = 'trial.accepts';

function sorted(rules: readonly Rule[], section: RuleSection, kind: JobKind): OrderedRule[] {
  return rules
    .map((rule, index) => ({ key: `${section}.${kind}[${index}]`, section, index, rule }))
    .sort((a, b) => (b.rule.priority ?? 1) - (a.rule.priority ?? 1) || a.index - b.index);
}

/**
 * The order in which a kind's rules reach the combiner: availability rules, then pricing
 * rules; within each, higher `priority` first (json-rules-engine's order), then document order.
 * Both evaluation paths use it: the compiled path iterates it, the engine path sorts the
 * engine's (concurrently completed) results by it.
 */
export function orderedRules(doc: RuleDocument, kind: JobKind): OrderedRule[] {
  return [
    ...sorted(doc.availability[kind], 'availability', kind),
    ...sorted(doc.pricing[kind], 'pricing', kind),
  ];
}
