import { readFileSync, statSync } from 'node:fs';
import {
  LIMITS,
  compileRuleDocument,
  jobSchema,
  preflight,
  ruleDocumentSchema,
  simulate,
  validateRuleDocument,
  type RuleDocument,
  type SimulationJob,
  type ValidationError,
} from '@credits/rules';
import { openStore } from '@credits/store';
import { parseEnv } from './env.js';

const DAY_MS = 86_400_000;
/** Jobs replayed at most, newest first (the API's `admin.rules.simulate` ceiling). */
const JOBS_MAX = 100_000;
const CHANGED_SHOWN = 20;

/**
 * The document in FILE if it is safe and well-formed. Failing examples are allowed (a what-if
 * run is how one finds out which prices moved) and reported beside it, as the API does.
 */
function readDraft(
  file: string,
): { doc: RuleDocument; exampleErrors: ValidationError[] } | { errors: ValidationError[] } {
  let text: string;
  try {
    if (statSync(file).size > LIMITS.sizeBytesMax) {
      return {
        errors: [
          { path: '', message: `document is larger than ${LIMITS.sizeBytesMax / 1024} KiB` },
        ],
      };
    }
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return {
      errors: [
        { path: '', message: `cannot read ${file}: ${e instanceof Error ? e.message : String(e)}` },
      ],
    };
  }
  const validation = validateRuleDocument(text);
  if (validation.ok) return { doc: validation.doc, exampleErrors: [] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { errors: validation.errors };
  }
  if (
    typeof value !== 'object' ||
    value === null ||
    Array.isArray(value) ||
    preflight(value).length > 0
  ) {
    return { errors: validation.errors };
  }
  const parsed = ruleDocumentSchema.safeParse(value);
  if (!parsed.success) return { errors: validation.errors };
  return { doc: parsed.data, exampleErrors: validation.errors };
}

const signed = (n: number): string => (n > 0 ? `+${n}` : String(n));

/**
 * `credits rules simulate FILE [--days N]`: replay the jobs of the last N days (default 7,
 * 1–90) under the document in FILE and under the active rule set, and print which prices
 * change, the credits delta in total and per job kind, and the workspaces most affected.
 * Changes nothing. Returns the exit code: 0 after a simulation, 1 when FILE is unreadable or
 * invalid (its problems are printed with their JSON paths), N is out of range, or no rule set
 * is active.
 *
 * @example
 * // credits rules simulate ./draft.json --days 30
 * process.exitCode = await rulesSimulate('./draft.json', 30);
 */
export async function rulesSimulate(file: string, days: number): Promise<number> {
  if (!Number.isInteger(days) || days < 1 || days > 90) {
    console.error('--days must be a whole number of days from 1 to 90');
    return 1;
  }
  const draft = readDraft(file);
  if ('errors' in draft) {
    for (const e of draft.errors) console.log(`  ${e.path || '(root)'}: ${e.message}`);
    console.log(`invalid: ${draft.errors.length} problem${draft.errors.length === 1 ? '' : 's'}`);
    return 1;
  }

  const store = await openStore({ url: parseEnv().DATABASE_URL });
  try {
    await store.migrate();
    const active = await store.activeRules();
    if (!active) {
      console.error('no active rule set: run `credits seed --demo` or start the server once');
      return 1;
    }
    const activeValid = validateRuleDocument(active.document);
    if (!activeValid.ok)
      throw new Error(
        `stored rule version ${active.version} is invalid: ${JSON.stringify(activeValid.errors)}`,
      );

    const since = Date.now() - days * DAY_MS;
    const records = await store.recentJobs({ since, limit: JOBS_MAX + 1 });
    const truncated = records.length > JOBS_MAX;
    const jobs: SimulationJob[] = [];
    let skipped = 0;
    for (const r of records.slice(0, JOBS_MAX)) {
      const job = jobSchema.safeParse(r.job);
      if (!job.success) {
        skipped++;
        continue;
      }
      // The trial balance at the time is not recorded: replayed jobs see none (as the API).
      jobs.push({
        id: r.id,
        workspaceId: r.workspaceId,
        job: job.data,
        workspace: { plan: r.plan, features: r.features, trialRemaining: 0 },
      });
    }
    const report = simulate({
      jobs,
      draft: compileRuleDocument(draft.doc, 0),
      active: compileRuleDocument(activeValid.doc, active.version),
      changedLimit: CHANGED_SHOWN,
    });

    console.log(`Simulated ${file} against active version ${active.version}`);
    console.log(
      `jobs since ${new Date(since).toISOString()} (last ${days} day${days === 1 ? '' : 's'})`,
    );
    console.log(
      `  jobs repriced   ${report.jobsRepriced}${truncated ? ` (the newest ${JOBS_MAX} only)` : ''}${skipped ? `, ${skipped} unreadable skipped` : ''}`,
    );
    console.log(`  jobs changed    ${report.changedCount}`);
    console.log(`  credits delta   ${signed(report.creditsDelta)}`);
    for (const [kind, delta] of Object.entries(report.deltaByKind))
      console.log(`    ${kind.padEnd(12)}  ${signed(delta)}`);
    if (report.topWorkspaces.length > 0) {
      console.log('  workspaces most affected');
      for (const w of report.topWorkspaces) console.log(`    ${w.workspaceId}  ${signed(w.delta)}`);
    }
    if (report.changed.length > 0) {
      console.log(`  changed jobs (first ${report.changed.length} of ${report.changedCount})`);
      for (const c of report.changed) {
        console.log(
          `    ${c.id}  ${c.workspaceId}  ${c.kind}  ${String(c.before)} → ${String(c.after)}`,
        );
      }
    }
    if (draft.exampleErrors.length > 0) {
      console.log(
        `note: ${draft.exampleErrors.length} example${draft.exampleErrors.length === 1 ? '' : 's'} fail, so publish would refuse this document:`,
      );
      for (const e of draft.exampleErrors) console.log(`  ${e.path}: ${e.message}`);
    }
    return 0;
  } finally {
    await store.close();
  }
}
