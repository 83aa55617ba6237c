import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { appRouter } from '../src/index.js';

/**
 * docs/api.md is the reference for every procedure. These tests keep it from falling behind
 * the router: a procedure added without documentation, or a documented heading whose type or
 * access no longer matches the code, fails here.
 */
const DOC_PATH = fileURLToPath(new URL('../../../docs/api.md', import.meta.url));
const doc = readFileSync(DOC_PATH, 'utf8');

type ProcedureDef = { _def: { type: string; meta?: { access?: string } } };
const procedures = appRouter._def.procedures as unknown as Record<string, ProcedureDef>;
const paths = Object.keys(procedures).sort();

/** The document without fenced code blocks: mentions must be in the prose or the headings. */
const prose = doc.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
const headings = prose.split('\n').filter((line) => /^#{1,6}\s/.test(line));
/** Every inline code span's content, e.g. `usage.reserve` → usage.reserve. */
const codeSpans = new Set([...prose.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!.trim()));

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The path as a whole token: not part of a longer path such as `admin.keys.list` for `keys.list`. */
const token = (path: string) => new RegExp(`(^|[^\\w.])${escape(path)}($|[^\\w.])`);

/** `### \`usage.reserve\` — mutation · \`workspace:use\``: the headings that describe one procedure. */
const HEADING = /^#{2,6}\s+`([\w.]+)`\s+—\s+(query|mutation)\s+·\s+`([^`]+)`\s*$/;
const described = headings.flatMap((line) => {
  const m = HEADING.exec(line);
  return m ? [{ line, path: m[1]!, type: m[2]!, access: m[3]! }] : [];
});

describe('docs/api.md', () => {
  it('the router has procedures to document', () => {
    expect(paths.length).toBeGreaterThan(0);
  });

  it.each(paths)('mentions %s as a heading or in backticks', (path) => {
    const inHeading = headings.some((line) => token(path).test(line));
    const inBackticks = codeSpans.has(path);
    expect(inHeading || inBackticks, `${path} is not documented in docs/api.md`).toBe(true);
  });

  it('every procedure heading names a procedure that exists, with its type and access', () => {
    const wrong = described.flatMap((d) => {
      const proc = procedures[d.path];
      if (!proc) return [`${d.line}: no such procedure`];
      const problems: string[] = [];
      if (proc._def.type !== d.type) problems.push(`${d.line}: it is a ${proc._def.type}`);
      if (proc._def.meta?.access !== d.access)
        problems.push(`${d.line}: its access is ${String(proc._def.meta?.access)}`);
      return problems;
    });
    expect(wrong).toEqual([]);
  });

  it('describes each procedure under one heading', () => {
    const counts = new Map<string, number>();
    for (const d of described) counts.set(d.path, (counts.get(d.path) ?? 0) + 1);
    expect([...counts].filter(([, n]) => n > 1).map(([p]) => p)).toEqual([]);
    expect(paths.filter((p) => !counts.has(p))).toEqual([]);
  });
});
