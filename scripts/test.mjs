#!/usr/bin/env node
// The README's test command: every vitest project, then one closing line with the counts
// and a plain list of the suites that did not run here and why.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import net from 'node:net';

const args = process.argv.slice(2);
const out = join(mkdtempSync(join(tmpdir(), 'credits-test-')), 'results.json');

/** Is something listening at host:port? */
function reachable(url) {
  return new Promise((resolve) => {
    let host = '127.0.0.1';
    let port = 5432;
    try {
      const u = new URL(url);
      host = u.hostname || host;
      port = Number(u.port || 5432);
    } catch {
      resolve(false);
      return;
    }
    const s = net.connect({ host, port, timeout: 2000 });
    s.on('connect', () => (s.destroy(), resolve(true)));
    s.on('error', () => resolve(false));
    s.on('timeout', () => (s.destroy(), resolve(false)));
  });
}

const skipped = [];
const pg = process.env.TEST_DATABASE_URL;
if (!pg) {
  skipped.push('PostgreSQL store and API suites: TEST_DATABASE_URL is not set');
} else if (!(await reachable(pg))) {
  if (process.env.REQUIRE_POSTGRES === '1') {
    console.error(`PostgreSQL at ${pg} is not reachable and REQUIRE_POSTGRES=1.`);
    process.exit(1);
  }
  skipped.push(`PostgreSQL suites: ${pg} is not reachable`);
  delete process.env.TEST_DATABASE_URL;
}
if (spawnSync('python3', ['--version']).status !== 0) {
  skipped.push('the Python worker example (apps/server/test/python-example.test.ts): no python3');
}
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(chromium)) {
  skipped.push(`browser tests: no Chromium at ${chromium} (apt-get install chromium)`);
  process.env.SKIP_BROWSER_TESTS = '1';
}

const started = performance.now();
const result = spawnSync(
  'pnpm',
  [
    'exec',
    'vitest',
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${out}`,
    ...args,
  ],
  { stdio: 'inherit', env: process.env },
);

const wallMs = performance.now() - started;
const seconds = (ms) =>
  ms >= 60_000
    ? `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`
    : `${(ms / 1000).toFixed(1)} s`;

/**
 * How long each project took: the sum of its test files' durations (files run in parallel,
 * so these add up to more than the wall time) and its file and test counts.
 */
function projectTimes(results) {
  const root = process.cwd();
  const names = new Map();
  const projectOf = (file) => {
    const rel = relative(root, file).split(sep);
    const dir = rel.slice(0, 2).join(sep);
    if (!names.has(dir)) {
      try {
        names.set(dir, JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8')).name);
      } catch {
        names.set(dir, dir);
      }
    }
    return names.get(dir);
  };
  const rows = new Map();
  for (const file of results.testResults ?? []) {
    const name = projectOf(file.name);
    const row = rows.get(name) ?? { files: 0, tests: 0, ms: 0 };
    row.files += 1;
    row.tests += file.assertionResults?.length ?? 0;
    row.ms += Math.max(0, (file.endTime ?? 0) - (file.startTime ?? 0));
    rows.set(name, row);
  }
  return [...rows].sort((a, b) => b[1].ms - a[1].ms);
}

let summary = null;
try {
  summary = JSON.parse(readFileSync(out, 'utf8'));
} catch {
  // vitest failed before writing results; its own output says why
}
console.log('');
if (summary) {
  const rows = projectTimes(summary);
  const width = Math.max(...rows.map(([name]) => name.length), 7);
  console.log('time per project (sum of its files; files run in parallel):');
  for (const [name, row] of rows) {
    console.log(
      `  ${name.padEnd(width)}  ${String(row.files).padStart(3)} files  ${String(row.tests).padStart(5)} tests  ${seconds(row.ms).padStart(10)}`,
    );
  }
}
console.log(`wall time ${seconds(wallMs)}`);
for (const s of skipped) console.log(`SKIPPED ${s}`);
if (summary) {
  const skippedCount = (summary.numPendingTests ?? 0) + (summary.numTodoTests ?? 0);
  console.log(
    `${summary.numPassedTests} passed, ${summary.numFailedTests} failed, ${skippedCount} skipped`,
  );
}
process.exit(result.status ?? 1);
