import { formatPath } from './document.js';

export interface DocumentChange {
  /** JSON path of the changed value, e.g. `pricing.video[1].event.params.perUnit`. */
  path: string;
  /** `undefined` when the value was added. */
  before: unknown;
  /** `undefined` when the value was removed. */
  after: unknown;
}

type Kind = 'array' | 'object' | 'scalar';
const kindOf = (v: unknown): Kind =>
  Array.isArray(v) ? 'array' : typeof v === 'object' && v !== null ? 'object' : 'scalar';

/**
 * Structural diff of two rule documents (or any JSON values): one entry per changed leaf,
 * added or removed key, or array element, in document order. Values whose shape changed
 * (object ↔ array ↔ scalar) are reported whole at their path. Arrays compare by index.
 */
export function diffRuleDocuments(a: unknown, b: unknown): DocumentChange[] {
  const out: DocumentChange[] = [];
  const walk = (x: unknown, y: unknown, path: (string | number)[]): void => {
    const kx = kindOf(x);
    const ky = kindOf(y);
    if (kx !== ky) {
      out.push({ path: formatPath(path), before: x, after: y });
      return;
    }
    if (kx === 'scalar') {
      if (!Object.is(x, y)) out.push({ path: formatPath(path), before: x, after: y });
      return;
    }
    if (kx === 'array') {
      const xs = x as unknown[];
      const ys = y as unknown[];
      const n = Math.max(xs.length, ys.length);
      for (let i = 0; i < n; i++) {
        if (i >= xs.length)
          out.push({ path: formatPath([...path, i]), before: undefined, after: ys[i] });
        else if (i >= ys.length)
          out.push({ path: formatPath([...path, i]), before: xs[i], after: undefined });
        else walk(xs[i], ys[i], [...path, i]);
      }
      return;
    }
    const ox = x as Record<string, unknown>;
    const oy = y as Record<string, unknown>;
    const keys = [...Object.keys(ox), ...Object.keys(oy).filter((k) => !Object.hasOwn(ox, k))];
    for (const key of keys) {
      const inX = Object.hasOwn(ox, key);
      const inY = Object.hasOwn(oy, key);
      if (!inY) out.push({ path: formatPath([...path, key]), before: ox[key], after: undefined });
      else if (!inX)
        out.push({ path: formatPath([...path, key]), before: undefined, after: oy[key] });
      else walk(ox[key], oy[key], [...path, key]);
    }
  };
  walk(a, b, []);
  return out;
}
