import { Engine, type RuleProperties } from 'json-rules-engine';
import { combine, normalizeEvent, type CombinerEvent } from './combine.js';
import type { RuleDocument } from './document.js';
import { FACTS_BY_KIND, factsObject } from './facts.js';
import type { Job, JobKind, WorkspaceFacts } from './job.js';
import { TRIAL_RULE_KEY, orderedRules } from './order.js';
import type { PriceOutcome } from './types.js';

/** Thrown by the path resolver: documents may not use JSONPath, and no engine evaluates one. */
export class JsonPathRefusedError extends Error {
  readonly code = 'JSONPATH_REFUSED';
  constructor(path: string) {
    super(`JSONPath evaluation is disabled (path ${JSON.stringify(path)})`);
    this.name = 'JsonPathRefusedError';
  }
}

/** Options every Engine in this package is built with. */
export const ENGINE_OPTIONS = {
  // Facts a job leaves out (e.g. an audio job's durationSec) read as undefined on both paths.
  allowUndefinedFacts: true,
  allowUndefinedConditions: false,
  replaceFactsInEventParams: false,
  pathResolver: (_value: object, path: string): never => {
    throw new JsonPathRefusedError(path);
  },
} as const;

const POOL_IDLE_MAX = 32;

/**
 * Engines for one (document, kind). json-rules-engine keeps a per-engine `status` that a
 * finishing run() sets to FINISHED, which makes a concurrent run() on the same engine skip its
 * remaining rules; so each engine here serves one run at a time: `acquire` hands out an idle
 * engine or builds a new one, `release` returns it.
 */
class EnginePool {
  private readonly idle: Engine[] = [];
  /** Rule key → position in combiner order. */
  readonly rank: ReadonlyMap<string, number>;
  private readonly rules: RuleProperties[];

  constructor(doc: RuleDocument, kind: JobKind) {
    const ordered = orderedRules(doc, kind);
    this.rank = new Map(ordered.map((r, i) => [r.key, i]));
    this.rules = ordered.map((r) => ({
      name: r.key,
      priority: r.rule.priority ?? 1,
      conditions: structuredClone(r.rule.conditions),
      event: structuredClone(r.rule.event),
    }));
    if (kind === 'video') {
      this.rules.push({
        name: TRIAL_RULE_KEY,
        priority: 1,
        conditions: structuredClone(doc.trial.accepts),
        event: { type: 'trial_accepts' },
      });
    }
  }

  acquire(): Engine {
    return this.idle.pop() ?? new Engine(this.rules, { ...ENGINE_OPTIONS });
  }

  release(engine: Engine): void {
    if (this.idle.length < POOL_IDLE_MAX) this.idle.push(engine);
  }
}

const pools = new WeakMap<RuleDocument, Map<JobKind, EnginePool>>();

function poolFor(doc: RuleDocument, kind: JobKind): EnginePool {
  let byKind = pools.get(doc);
  if (byKind === undefined) {
    byKind = new Map();
    pools.set(doc, byKind);
  }
  let pool = byKind.get(kind);
  if (pool === undefined) {
    pool = new EnginePool(doc, kind);
    byKind.set(kind, pool);
  }
  return pool;
}

/**
 * The reference path: prices a job with json-rules-engine's `Engine.run()`, then hands the
 * matched events, sorted into rule order, to the same `combine()` the compiled path uses.
 * Safe under concurrency (an engine serves one run at a time). Slow; use `compileRuleDocument`
 * to serve quotes and this to check it.
 */
export async function priceWithEngine(
  doc: RuleDocument,
  version: number,
  job: Job,
  ws: WorkspaceFacts,
): Promise<PriceOutcome> {
  const pool = poolFor(doc, job.kind);
  const engine = pool.acquire();
  let results;
  try {
    ({ results } = await engine.run(factsObject(FACTS_BY_KIND[job.kind], job, ws)));
  } finally {
    pool.release(engine);
  }
  let trialApplies = false;
  const matched: { rank: number; event: CombinerEvent }[] = [];
  for (const result of results) {
    if (result.name === TRIAL_RULE_KEY) {
      trialApplies = true;
      continue;
    }
    const rank = pool.rank.get(result.name);
    if (rank === undefined || result.event === undefined)
      throw new Error(`engine returned unknown rule ${result.name}`);
    matched.push({ rank, event: normalizeEvent(result.event) });
  }
  matched.sort((a, b) => a.rank - b.rank);
  const out = combine({ events: matched.map((m) => m.event), job });
  if (!out.ok) return { ok: false, reason: out.reason, message: out.message, ruleVersion: version };
  return {
    ok: true,
    credits: out.credits,
    breakdown: out.breakdown,
    trialApplies,
    ruleVersion: version,
  };
}
