#!/usr/bin/env node
// `npm start` / `npm test` (and `pnpm start` / `pnpm test`) on a fresh machine with only Node 20
// and npm: install what is missing, then run the real command. Uses nothing but Node's own
// modules, because it runs before any dependency is installed.
//
//   node scripts/bootstrap.mjs start [args…]   → the server and web app (scripts "start:app")
//   node scripts/bootstrap.mjs test  [args…]   → every test suite (scripts/test.mjs)
//
// What it installs when missing, each step said on one line:
//   1. pnpm, the version in package.json's "packageManager", when no pnpm of that major version
//      is on PATH (corepack cannot fetch it on every machine, so npm installs it, into
//      node_modules/.bootstrap: nothing outside the checkout changes);
//   2. the workspace's packages (`pnpm install --frozen-lockfile`) when the lockfile or any
//      package.json changed since the last install here (sqlite3 compiles from source the first
//      time, about 2 minutes);
//   3. for `test` only: Debian's Chromium for the browser tests, when running as root on a
//      machine with apt-get (otherwise the test command prints a plain SKIPPED line for them).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const [command, ...args] = process.argv.slice(2);
if (command !== 'start' && command !== 'test') {
  console.error('usage: node scripts/bootstrap.mjs start|test [args…]');
  process.exit(2);
}

const say = (line) => console.log(`[setup] ${line}`);
const run = (cmd, argv, opts = {}) =>
  spawnSync(cmd, argv, { cwd: ROOT, stdio: 'inherit', env: process.env, ...opts });
const quiet = (cmd, argv) =>
  spawnSync(cmd, argv, { cwd: ROOT, encoding: 'utf8', env: process.env, stdio: 'pipe' });

// ---------------------------------------------------------------- 1. pnpm
const wanted = /^pnpm@(\d+\.\d+\.\d+)/.exec(
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).packageManager ?? '',
)?.[1];
if (!wanted) throw new Error('package.json names no pnpm version in "packageManager"');
const LOCAL_PNPM = join(ROOT, 'node_modules', '.bootstrap', 'node_modules', '.bin', 'pnpm');

function pnpmVersion(bin) {
  const r = quiet(bin, ['--version']);
  return r.status === 0 ? r.stdout.trim() : null;
}

function findPnpm() {
  // Already running under pnpm (`pnpm start`): use the same one.
  const execPath = process.env.npm_execpath ?? '';
  if (/pnpm/.test(execPath) && existsSync(execPath))
    return { bin: process.execPath, pre: [execPath] };
  for (const bin of ['pnpm', LOCAL_PNPM]) {
    const v = pnpmVersion(bin);
    if (v && v.split('.')[0] === wanted.split('.')[0]) return { bin, pre: [] };
  }
  return null;
}

let pnpm = findPnpm();
if (!pnpm) {
  // Into the project, not the machine: nothing outside this checkout changes.
  say(`installing pnpm ${wanted} with npm into node_modules/.bootstrap (once)`);
  const prefix = join(ROOT, 'node_modules', '.bootstrap');
  mkdirSync(prefix, { recursive: true });
  const r = run('npm', [
    'install',
    '--no-save',
    '--no-package-lock',
    '--no-audit',
    '--no-fund',
    '--prefix',
    prefix,
    `pnpm@${wanted}`,
  ]);
  pnpm = r.status === 0 ? findPnpm() : null;
  if (!pnpm) {
    console.error(`[setup] could not install pnpm ${wanted} with npm; see the output above.`);
    process.exit(1);
  }
}
const pnpmRun = (argv, opts) => run(pnpm.bin, [...pnpm.pre, ...argv], opts);
// Child processes (the test runner calls `pnpm exec`) find the same pnpm.
if (pnpm.bin === LOCAL_PNPM)
  process.env.PATH = `${dirname(LOCAL_PNPM)}${delimiter}${process.env.PATH}`;

// ---------------------------------------------------------------- 2. packages
/** The lockfile, the workspace file and every package.json: what an install depends on. */
function installInputs() {
  const files = ['pnpm-lock.yaml', 'pnpm-workspace.yaml', 'package.json'];
  for (const group of ['apps', 'packages']) {
    const dir = join(ROOT, group);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      if (existsSync(join(dir, name, 'package.json')))
        files.push(join(group, name, 'package.json'));
    }
  }
  const hash = createHash('sha256');
  for (const f of files)
    hash
      .update(f)
      .update('\0')
      .update(readFileSync(join(ROOT, f)))
      .update('\0');
  return hash.digest('hex');
}
const STAMP = join(ROOT, 'node_modules', '.credits-installed');
const inputs = installInputs();
const installed = existsSync(STAMP) ? readFileSync(STAMP, 'utf8').trim() : null;
if (installed !== inputs) {
  say(
    installed === null
      ? 'installing the workspace packages (the first time, sqlite3 compiles from source: ~2 min)'
      : 'the lockfile or a package.json changed: installing the workspace packages',
  );
  const r = pnpmRun(['install', '--frozen-lockfile']);
  if (r.status !== 0) {
    console.error('[setup] pnpm install failed; see the output above.');
    process.exit(r.status ?? 1);
  }
  writeFileSync(STAMP, `${inputs}\n`);
}

// ---------------------------------------------------------------- 3. Chromium (tests only)
const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
if (command === 'test' && !existsSync(chromium) && process.env.SKIP_BROWSER_TESTS !== '1') {
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (root && quiet('apt-get', ['--version']).status === 0) {
    say("installing Debian's chromium for the browser tests (once)");
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const direct = run('apt-get', ['install', '-y', '-qq', 'chromium'], { env, stdio: 'ignore' });
    if (direct.status !== 0) {
      run('apt-get', ['update', '-qq'], { env, stdio: 'ignore' });
      run('apt-get', ['install', '-y', '-qq', 'chromium'], { env, stdio: 'ignore' });
    }
  }
  if (!existsSync(chromium)) say(`no Chromium at ${chromium}: the browser tests will be skipped`);
}

// ---------------------------------------------------------------- the command itself
const r =
  command === 'start'
    ? pnpmRun(['run', 'start:app', ...args])
    : run(process.execPath, [join(ROOT, 'scripts', 'test.mjs'), ...args]);
process.exit(r.status ?? 1);
