/**
 * Quotes per second on the default rule document: the compiled fast path and json-rules-engine
 * (the reference path), measured in the same run over the same random jobs drawn from the whole
 * fact space (no cache involved). Run: `pnpm tsx packages/rules/bench/quotes.ts [durationMs]`.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import {
  compileRuleDocument,
  defaultRuleDocument,
  priceWithEngine,
  type Job,
  type WorkspaceFacts,
} from '../src/index.js';
import { randomJob, randomWorkspace, seededRandom } from './random-jobs.js';

export interface QuoteBench {
  fastPerSec: number;
  enginePerSec: number;
}

const POOL_SIZE = 65_536;

/** Runs both measurements for about `durationMs` each (default 2,000 ms). */
export async function benchQuotes(input: { durationMs?: number } = {}): Promise<QuoteBench> {
  const durationMs = input.durationMs ?? 2000;
  const r = seededRandom(0x5eed);
  const jobs: Job[] = [];
  const workspaces: WorkspaceFacts[] = [];
  for (let i = 0; i < POOL_SIZE; i++) {
    jobs.push(randomJob(r));
    workspaces.push(randomWorkspace(r));
  }
  const pricer = compileRuleDocument(defaultRuleDocument, 1);
  let sink = 0;

  // Fast path: warm up, then count quotes in fixed-size batches until the time is up.
  for (let i = 0; i < 50_000; i++) {
    const out = pricer.price(jobs[i % POOL_SIZE]!, workspaces[i % POOL_SIZE]!);
    if (out.ok) sink += out.credits;
  }
  let fastCount = 0;
  const fastStart = performance.now();
  let fastElapsed = 0;
  while (fastElapsed < durationMs) {
    for (let b = 0; b < 10_000; b++, fastCount++) {
      const i = fastCount & (POOL_SIZE - 1);
      const out = pricer.price(jobs[i]!, workspaces[i]!);
      if (out.ok) sink += out.credits;
    }
    fastElapsed = performance.now() - fastStart;
  }

  // Reference path: same jobs, run() one at a time (the engine is async).
  for (let i = 0; i < 500; i++)
    await priceWithEngine(defaultRuleDocument, 1, jobs[i]!, workspaces[i]!);
  let engineCount = 0;
  const engineStart = performance.now();
  let engineElapsed = 0;
  while (engineElapsed < durationMs) {
    for (let b = 0; b < 100; b++, engineCount++) {
      const i = engineCount & (POOL_SIZE - 1);
      const out = await priceWithEngine(defaultRuleDocument, 1, jobs[i]!, workspaces[i]!);
      if (out.ok) sink += out.credits;
    }
    engineElapsed = performance.now() - engineStart;
  }
  if (sink === -1) console.log(sink); // keep the work observable
  return {
    fastPerSec: Math.round((fastCount / fastElapsed) * 1000),
    enginePerSec: Math.round((engineCount / engineElapsed) * 1000),
  };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const durationMs = Number(process.argv[2] ?? 2000);
  const { fastPerSec, enginePerSec } = await benchQuotes({ durationMs });
  const fmt = (n: number): string => n.toLocaleString('en-US');
  console.log(`quotes/s  fast path (compiled):   ${fmt(fastPerSec)}`);
  console.log(`quotes/s  json-rules-engine:      ${fmt(enginePerSec)}`);
  console.log(`ratio     fast / engine:          ${(fastPerSec / enginePerSec).toFixed(1)}×`);
}
