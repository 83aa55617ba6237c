import { readFileSync } from 'node:fs';
import { createCaller, RulesService, workspaceServices } from '@credits/api';
import { openStore } from '@credits/store';
import { parseEnv } from './env.js';

const signed = (n: number): string => (n > 0 ? `+${n}` : String(n));

/**
 * `credits rules simulate FILE [--days N]`: replay the jobs of the last N days (default 7,
 * 1–90) under the document in FILE and under the active rule set, through the same
 * `admin.rules.simulate` procedure the admin console uses, and print which prices change,
 * the credits delta in total and per job kind, and the workspaces most affected. Changes
 * nothing. Returns the exit code: 0 after a simulation, 1 when FILE is unreadable or invalid
 * (its problems are printed with their JSON paths) or N is out of range.
 *
 * @example
 * // credits rules simulate ./draft.json --days 30
 * process.exitCode = await rulesSimulate('./draft.json', 30);
 */
export async function rulesSimulate(file: string, days: number): Promise<number> {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    console.error(`cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  const store = await openStore({ url: parseEnv().DATABASE_URL });
  try {
    await store.migrate();
    const rules = new RulesService(store);
    await rules.seed(Date.now());
    const admin = createCaller({
      store,
      rules,
      ...workspaceServices({ store, clock: Date.now }),
      now: () => Date.now(),
      caller: { kind: 'service', id: 'cli', scopes: ['admin'] },
      config: { holdTtlMs: 3_600_000 },
    });
    let report: Awaited<ReturnType<typeof admin.admin.rules.simulate>>;
    try {
      report = await admin.admin.rules.simulate({ document, days, changedLimit: 20 });
    } catch (e) {
      const data = (e as { cause?: { details?: { errors?: { path: string; message: string }[] } } })
        .cause?.details;
      for (const err of data?.errors ?? [])
        console.log(`  ${err.path || '(root)'}: ${err.message}`);
      console.error(`refused: ${e instanceof Error ? e.message : String(e)}`);
      return 1;
    }
    console.log(`Simulated ${file} against active version ${report.activeVersion}`);
    console.log(
      `jobs since ${new Date(report.since ?? 0).toISOString()} (last ${days} day${days === 1 ? '' : 's'})`,
    );
    console.log(
      `  jobs repriced   ${report.jobsRepriced}${report.truncated ? ' (the newest only)' : ''}${report.skipped ? `, ${report.skipped} unreadable skipped` : ''}`,
    );
    console.log(`  jobs changed    ${report.changedCount}`);
    console.log(`  credits delta   ${signed(report.creditsDelta)}`);
    for (const [kind, delta] of Object.entries(report.deltaByKind))
      console.log(`    ${kind.padEnd(12)}  ${signed(delta)}`);
    if (report.topWorkspaces.length > 0) {
      console.log('  workspaces most affected');
      for (const w of report.topWorkspaces) console.log(`    ${w.workspaceId}  ${signed(w.delta)}`);
    }
    for (const c of report.changed) {
      console.log(
        `    ${c.id}  ${c.workspaceId}  ${c.kind}  ${String(c.before)} → ${String(c.after)}`,
      );
    }
    if (!report.publishable)
      console.log('note: some examples fail, so publish would refuse this document');
    return 0;
  } finally {
    await store.close();
  }
}
