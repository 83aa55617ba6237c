#!/usr/bin/env node
// The README's test command: every vitest project, then one closing line with the counts
// and a plain list of the suites that did not run here and why.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (!existsSync(chromium)) {
  skipped.push(`browser tests: no Chromium at ${chromium} (apt-get install chromium)`);
  process.env.SKIP_BROWSER_TESTS = '1';
}

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

let summary = null;
try {
  summary = JSON.parse(readFileSync(out, 'utf8'));
} catch {
  // vitest failed before writing results; its own output says why
}
console.log('');
for (const s of skipped) console.log(`SKIPPED ${s}`);
if (summary) {
  const skippedCount = (summary.numPendingTests ?? 0) + (summary.numTodoTests ?? 0);
  console.log(
    `${summary.numPassedTests} passed, ${summary.numFailedTests} failed, ${skippedCount} skipped`,
  );
}
process.exit(result.status ?? 1);
