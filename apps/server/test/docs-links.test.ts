import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '../../..');
const script = join(repo, 'scripts/check-links.mjs');
const run = (root: string) => spawnSync(process.execPath, [script, root], { encoding: 'utf8' });

describe('Markdown links (scripts/check-links.mjs)', () => {
  it('every relative link in README.md, docs/ and the package READMEs resolves inside the repository', () => {
    const r = run(repo);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // README, docs/ and one README per package at least
    expect(Number(/^(\d+) Markdown files/m.exec(r.stdout)?.[1])).toBeGreaterThanOrEqual(12);
  });

  it('fails on a missing file, a link out of the repository, a missing heading and ../shared', () => {
    const root = mkdtempSync(join(tmpdir(), 'links-'));
    mkdirSync(join(root, 'docs'));
    writeFileSync(join(root, 'docs/a.md'), '# Title\n\n## Some `code` — here\n');
    writeFileSync(
      join(root, 'README.md'),
      [
        '[ok](docs/a.md) [ok](docs/a.md#title) [ok](docs/a.md#some-code--here) [web](https://example.com)',
        '[gone](docs/missing.md)',
        '[out](../elsewhere/SPEC.md)',
        '[anchor](docs/a.md#nope)',
        'See ../shared/product/SPEC.md',
        '```',
        '[inside a code block](not/checked.md)',
        '```',
      ].join('\n'),
    );
    const r = run(root);
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual([
      'README.md:5: mentions ../shared, a folder outside the repository',
      'README.md:2: docs/missing.md does not exist',
      'README.md:3: ../elsewhere/SPEC.md points outside the repository',
      'README.md:4: docs/a.md#nope: no heading #nope in docs/a.md',
    ]);
  });
});
