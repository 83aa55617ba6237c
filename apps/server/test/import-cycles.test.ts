import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * No import circles anywhere in the TypeScript sources of the node packages and the server
 * (`src/` and `test/` of each): a circle means two modules that cannot be read, tested or
 * loaded one without the other. Type-only imports count too — `types.ts` naming a class that
 * imports `types.ts` is the circle this test was written against. Workspace imports
 * (`@credits/x`) resolve to the package's entry point, so circles across packages count.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const PACKAGES: Record<string, string> = {
  '@credits/domain': 'packages/domain',
  '@credits/rules': 'packages/rules',
  '@credits/store': 'packages/store',
  '@credits/api': 'packages/api',
  '@credits/client': 'packages/client',
  '@credits/server': 'apps/server',
};

function tsFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'dist') return [];
    if (statSync(path).isDirectory()) return tsFiles(path);
    return /\.(ts|mts)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The file an import names, or null for a package outside the workspace. */
function resolveImport(from: string, spec: string): string | null {
  let base: string;
  if (spec.startsWith('.')) {
    base = resolve(dirname(from), spec);
  } else {
    const pkg = Object.keys(PACKAGES).find((p) => spec === p || spec.startsWith(`${p}/`));
    if (!pkg) return null;
    const root = join(ROOT, PACKAGES[pkg]!);
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
      exports?: Record<string, string>;
    };
    const sub = spec === pkg ? '.' : `.${spec.slice(pkg.length)}`;
    const target = manifest.exports?.[sub];
    if (!target) throw new Error(`${relative(ROOT, from)}: ${spec} is not exported`);
    base = join(root, target);
  }
  const candidates = [
    base,
    base.replace(/\.(m?js)$/, (_, e: string) => (e === 'mjs' ? '.mts' : '.ts')),
    `${base}.ts`,
    join(base, 'index.ts'),
  ];
  return candidates.find((c) => existsSync(c) && statSync(c).isFile()) ?? null;
}

function importGraph(): Map<string, string[]> {
  const files = Object.values(PACKAGES).flatMap((p) => [
    ...tsFiles(join(ROOT, p, 'src')),
    ...tsFiles(join(ROOT, p, 'test')),
    ...tsFiles(join(ROOT, p, 'bench')),
  ]);
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const edges = info.importedFiles
      .map((f) => resolveImport(file, f.fileName))
      .filter((f): f is string => f !== null && /\.m?ts$/.test(f));
    graph.set(file, [...new Set(edges)]);
  }
  return graph;
}

/** Strongly connected components with more than one file (or a file importing itself). */
function circles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    indexOf.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indexOf.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, indexOf.get(w)!));
      }
    }
    if (low.get(v) === indexOf.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc);
    }
  };
  for (const v of graph.keys()) if (!indexOf.has(v)) visit(v);
  return out.map((scc) => scc.map((f) => relative(ROOT, f)).sort());
}

describe('imports', () => {
  it('form no circle (type-only imports included)', () => {
    const graph = importGraph();
    expect(graph.size).toBeGreaterThan(50);
    expect(circles(graph)).toEqual([]);
  });

  it('the check finds a circle when there is one', () => {
    const graph = new Map([
      ['/a.ts', ['/b.ts']],
      ['/b.ts', ['/c.ts']],
      ['/c.ts', ['/a.ts']],
      ['/d.ts', ['/a.ts']],
    ]);
    expect(circles(graph).map((c) => c.length)).toEqual([3]);
  });
});
