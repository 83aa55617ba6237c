#!/usr/bin/env node
// Every relative link in the repository's Markdown (README.md, docs/**, the package READMEs,
// any other .md outside node_modules) must resolve to a file inside the repository, and a
// `#fragment` into a Markdown file must name one of its headings. Nothing may point outside
// the repository (`../shared/…`): a fresh clone has to be readable on its own.
//
//   node scripts/check-links.mjs [ROOT]     exits 1 listing every broken link
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const SKIP_DIRS = new Set(['node_modules', '.git', 'dist', '.turbo', 'coverage', 'screenshots']);

/** Every .md file under root, outside dependency and build folders. */
export function markdownFiles(root) {
  const out = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      if (SKIP_DIRS.has(name)) continue;
      const path = join(dir, name);
      const st = statSync(path);
      if (st.isDirectory()) walk(path);
      else if (name.endsWith('.md')) out.push(path);
    }
  };
  walk(root);
  return out.sort();
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, -1, -2 for repeats. */
export function headingAnchors(markdown) {
  const seen = new Map();
  const anchors = new Set();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = m[1]
      .toLowerCase()
      .replace(/<[^>]+>/g, '')
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Link targets in a Markdown text, outside code: inline links, images and reference definitions. */
export function linkTargets(markdown) {
  const targets = [];
  let fenced = false;
  markdown.split('\n').forEach((line, i) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      return;
    }
    if (fenced) return;
    const text = line.replace(/`[^`]*`/g, '');
    for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      targets.push({ line: i + 1, target: m[1] });
    }
    const def = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(\s|$)/.exec(text);
    if (def) targets.push({ line: i + 1, target: def[1] });
  });
  return targets;
}

/** Problems with every Markdown file's links under root: `file:line: message`. */
export function checkLinks(root) {
  root = resolve(root);
  const problems = [];
  const anchorCache = new Map();
  const anchorsOf = (file) => {
    if (!anchorCache.has(file)) anchorCache.set(file, headingAnchors(readFileSync(file, 'utf8')));
    return anchorCache.get(file);
  };
  for (const file of markdownFiles(root)) {
    const text = readFileSync(file, 'utf8');
    const where = (line) => `${relative(root, file)}:${line}`;
    text.split('\n').forEach((line, i) => {
      if (line.includes('../shared'))
        problems.push(`${where(i + 1)}: mentions ../shared, a folder outside the repository`);
    });
    for (const { line, target } of linkTargets(text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      const [pathPart, fragment] = target.split('#', 2);
      const path = decodeURIComponent(pathPart);
      const resolved = path === '' ? file : resolve(dirname(file), path);
      if (resolved !== root && !resolved.startsWith(root + sep)) {
        problems.push(`${where(line)}: ${target} points outside the repository`);
        continue;
      }
      if (!existsSync(resolved)) {
        problems.push(`${where(line)}: ${target} does not exist`);
        continue;
      }
      if (fragment && resolved.endsWith('.md') && !anchorsOf(resolved).has(fragment)) {
        problems.push(
          `${where(line)}: ${target}: no heading #${fragment} in ${relative(root, resolved)}`,
        );
      }
    }
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..');
  const problems = checkLinks(root);
  for (const p of problems) console.error(p);
  console.log(
    `${markdownFiles(resolve(root)).length} Markdown files, ${problems.length} broken links`,
  );
  process.exit(problems.length === 0 ? 0 : 1);
}
