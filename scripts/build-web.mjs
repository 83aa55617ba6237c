#!/usr/bin/env node
// `pnpm start`'s first step: build the web app (apps/web/dist) only when its inputs changed.
// The inputs are apps/web's sources, config and package.json and the lockfile (the app
// imports nothing but types from the workspace's packages); their SHA-256 is kept beside
// the build. Unchanged: the build is skipped (a vite build takes tens of seconds here).
//
//   node scripts/build-web.mjs [--force]
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const web = join(root, 'apps/web');
const stampFile = join(web, 'node_modules/.cache/credits-web-build.sha256');
const SKIP = new Set(['node_modules', 'dist', 'e2e', 'screenshots', 'test-results']);
const isTest = (name) => /\.(spec|test)\.[cm]?[jt]s$/.test(name);

/** SHA-256 over every input's path and content, in a fixed order. */
export function webInputsHash() {
  const files = [join(root, 'pnpm-lock.yaml')];
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      if (SKIP.has(name) || isTest(name)) continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk(web);
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(relative(root, file)).update('\0').update(readFileSync(file)).update('\0');
  }
  return hash.digest('hex');
}

const force = process.argv.includes('--force');
const hash = webInputsHash();
const built = existsSync(join(web, 'dist/index.html'));
const stamp = existsSync(stampFile) ? readFileSync(stampFile, 'utf8').trim() : null;
if (!force && built && stamp === hash) {
  console.log('web app: unchanged since its last build, apps/web/dist reused (--force rebuilds)');
  process.exit(0);
}
const started = performance.now();
const result = spawnSync('pnpm', ['--filter', '@credits/web', 'build'], {
  cwd: root,
  stdio: 'inherit',
});
if (result.status !== 0) process.exit(result.status ?? 1);
mkdirSync(dirname(stampFile), { recursive: true });
writeFileSync(stampFile, `${hash}\n`);
console.log(`web app: built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
