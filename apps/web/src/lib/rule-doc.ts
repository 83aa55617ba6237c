/**
 * Reading and editing a rule document in the browser: a readable price table from its
 * `pricing` section, and small pure edits (a price, the examples' expected credits).
 */
export interface PriceRow {
  kind: string;
  index: number;
  name: string;
  type: string;
  /** The editable number and where it lives in the event params. */
  field: 'perUnit' | 'factor' | 'credits' | null;
  value: number | null;
  unit: string | null;
  label: string;
  path: string;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const FIELD_OF: Record<string, PriceRow['field']> = {
  rate: 'perUnit',
  multiplier: 'factor',
  flat: 'credits',
  minimum: 'credits',
};

export function priceRows(doc: unknown): PriceRow[] {
  if (!isObj(doc) || !isObj(doc.pricing)) return [];
  const rows: PriceRow[] = [];
  for (const [kind, rules] of Object.entries(doc.pricing)) {
    if (!Array.isArray(rules)) continue;
    rules.forEach((rule: unknown, index) => {
      if (!isObj(rule)) return;
      const event = isObj(rule.event) ? rule.event : {};
      const params = isObj(event.params) ? event.params : {};
      const type = typeof event.type === 'string' ? event.type : '?';
      const field = FIELD_OF[type] ?? null;
      const raw = field ? params[field] : undefined;
      rows.push({
        kind,
        index,
        name: typeof rule.name === 'string' ? rule.name : `${kind} rule ${index + 1}`,
        type,
        field,
        value: typeof raw === 'number' ? raw : null,
        unit: typeof params.unit === 'string' ? params.unit : null,
        label: typeof params.label === 'string' ? params.label : '',
        path: `pricing.${kind}[${index}]`,
      });
    });
  }
  return rows;
}

/** A copy of the document with one rule's number changed. */
export function setPrice(
  doc: unknown,
  row: Pick<PriceRow, 'kind' | 'index' | 'field'>,
  value: number,
): unknown {
  const copy = structuredClone(doc) as Obj;
  const rule = ((copy.pricing as Obj)[row.kind] as Obj[])[row.index]!;
  const params = (rule.event as Obj).params as Obj;
  params[row.field!] = value;
  return copy;
}

/**
 * Examples that fail only because the price moved: `examples[i]` with "expected N, got M".
 * Returns the index and the new price, so an admin can accept the draft's prices in one go.
 */
export function repricedExamples(
  errors: readonly { path: string; message: string }[],
): { index: number; credits: number }[] {
  const out: { index: number; credits: number }[] = [];
  for (const e of errors) {
    const at = /^examples\[(\d+)\]$/.exec(e.path);
    const got = /expected \d+, got (\d+)$/.exec(e.message);
    if (at && got) out.push({ index: Number(at[1]), credits: Number(got[1]) });
  }
  return out;
}

export function acceptExamplePrices(
  doc: unknown,
  fixes: readonly { index: number; credits: number }[],
): unknown {
  const copy = structuredClone(doc) as Obj;
  const examples = copy.examples as Obj[];
  for (const f of fixes) {
    const ex = examples[f.index];
    if (ex && isObj(ex.expect)) ex.expect = { ...ex.expect, credits: f.credits };
  }
  return copy;
}

/** Where in the JSON text a path's value starts, roughly: for jumping the cursor to an error. */
export function lineOfPath(text: string, path: string): number | null {
  const keys = path.match(/[A-Za-z_][\w]*|\[\d+\]/g);
  if (!keys) return null;
  let pos = 0;
  for (const k of keys) {
    if (k.startsWith('[')) {
      const n = Number(k.slice(1, -1));
      // step into the array and past n top-level elements
      let depth = 0;
      let count = 0;
      let i = text.indexOf('[', pos) + 1;
      if (i === 0) return null;
      for (; i < text.length && count < n; i++) {
        const c = text[i];
        if (c === '{' || c === '[') depth++;
        else if (c === '}' || c === ']') depth--;
        else if (c === ',' && depth === 0) count++;
        else if (c === '"') {
          i++;
          while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
        }
      }
      pos = i;
    } else {
      const at = text.indexOf(`"${k}"`, pos);
      if (at < 0) return null;
      pos = at;
    }
  }
  return text.slice(0, pos).split('\n').length;
}
