import type { FactTable, FactType } from './facts.js';

/** The json-rules-engine operators a rule document may use (built-ins only, no decorators). */
export const OPERATORS = [
  'equal',
  'notEqual',
  'lessThan',
  'lessThanInclusive',
  'greaterThan',
  'greaterThanInclusive',
  'in',
  'notIn',
  'contains',
  'doesNotContain',
] as const;
export type Operator = (typeof OPERATORS)[number];

/** Which operators make sense for which fact type. Anything else is refused at validation. */
export const OPERATORS_BY_FACT_TYPE: Readonly<Record<FactType, readonly Operator[]>> = {
  string: ['equal', 'notEqual', 'in', 'notIn'],
  number: [
    'equal',
    'notEqual',
    'lessThan',
    'lessThanInclusive',
    'greaterThan',
    'greaterThanInclusive',
    'in',
    'notIn',
  ],
  boolean: ['equal', 'notEqual'],
  'string[]': ['contains', 'doesNotContain'],
};

export type ConditionValue = string | number | boolean | readonly string[] | readonly number[];

/** A leaf condition: `<fact> <operator> <literal value>`. */
export interface FactCondition {
  fact: string;
  operator: Operator;
  value: ConditionValue;
  name?: string;
  priority?: number;
}
export interface AllCondition {
  all: Condition[];
  name?: string;
  priority?: number;
}
export interface AnyCondition {
  any: Condition[];
  name?: string;
  priority?: number;
}
export interface NotCondition {
  not: Condition;
  name?: string;
  priority?: number;
}
export type BooleanCondition = AllCondition | AnyCondition | NotCondition;
export type Condition = FactCondition | BooleanCondition;
/** json-rules-engine requires a boolean operator at the root of a rule's conditions. */
export type TopLevelCondition = BooleanCondition;

export const MAX_CONDITION_CHILDREN = 100;
export const MAX_IN_VALUES = 100;
export const MAX_STRING_VALUE = 200;
export const MAX_CONDITION_PRIORITY = 10_000;

type Path = (string | number)[];
export type ReportIssue = (path: Path, message: string) => void;

const LEAF_KEYS = new Set(['fact', 'operator', 'value', 'name', 'priority']);
const BOOL_KEYS = new Set(['all', 'any', 'not', 'name', 'priority']);

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks a condition tree against the facts of one job kind. Recursion is safe: the document's
 * depth is bounded before this runs (see `validateRuleDocument`).
 */
export function checkCondition(input: {
  node: unknown;
  facts: FactTable;
  path: Path;
  report: ReportIssue;
  root: boolean;
}): void {
  const { node, facts, path, report, root } = input;
  if (!isPlainObject(node)) {
    report(path, 'a condition must be an object');
    return;
  }
  if (Object.hasOwn(node, 'path')) {
    report([...path, 'path'], 'JSONPath "path" is not allowed in conditions');
  }
  if (Object.hasOwn(node, 'condition')) {
    report([...path, 'condition'], 'condition references are not supported');
  }
  if (Object.hasOwn(node, 'params')) {
    report([...path, 'params'], 'fact params are not supported');
  }
  checkNameAndPriority(node, path, report);
  const bools = (['all', 'any', 'not'] as const).filter((k) => Object.hasOwn(node, k));
  if (bools.length > 1) {
    report(path, `a condition has exactly one of all, any, not (found ${bools.join(', ')})`);
    return;
  }
  const bool = bools[0];
  if (bool !== undefined) {
    for (const key of Object.keys(node)) {
      if (!BOOL_KEYS.has(key) && key !== 'path' && key !== 'condition' && key !== 'params') {
        report([...path, key], `unknown key "${key}" in a boolean condition`);
      }
    }
    const children = node[bool];
    if (bool === 'not') {
      if (Array.isArray(children)) {
        report([...path, 'not'], '"not" takes one condition, not an array');
        return;
      }
      checkCondition({ node: children, facts, path: [...path, 'not'], report, root: false });
      return;
    }
    if (!Array.isArray(children)) {
      report([...path, bool], `"${bool}" must be an array of conditions`);
      return;
    }
    if (bool === 'any' && children.length === 0) {
      // json-rules-engine treats `any: []` as true, which reads as a mistake: refuse it.
      report([...path, bool], '"any" must list at least one condition');
    }
    if (children.length > MAX_CONDITION_CHILDREN) {
      report([...path, bool], `at most ${MAX_CONDITION_CHILDREN} conditions per "${bool}"`);
      return;
    }
    children.forEach((child, i) =>
      checkCondition({ node: child, facts, path: [...path, bool, i], report, root: false }),
    );
    return;
  }
  if (root) {
    report(path, 'the root of "conditions" must be "all", "any" or "not"');
    return;
  }
  if (Object.hasOwn(node, 'condition')) return;
  for (const key of Object.keys(node)) {
    if (!LEAF_KEYS.has(key) && key !== 'path' && key !== 'params') {
      report([...path, key], `unknown key "${key}" in a condition`);
    }
  }
  checkLeaf(node, facts, path, report);
}

function checkNameAndPriority(
  node: Record<string, unknown>,
  path: Path,
  report: ReportIssue,
): void {
  if (Object.hasOwn(node, 'name')) {
    const name = node.name;
    if (typeof name !== 'string' || name.length > MAX_STRING_VALUE) {
      report([...path, 'name'], `name must be a string of at most ${MAX_STRING_VALUE} characters`);
    }
  }
  if (Object.hasOwn(node, 'priority')) {
    const p = node.priority;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 1 || p > MAX_CONDITION_PRIORITY) {
      report(
        [...path, 'priority'],
        `priority must be an integer from 1 to ${MAX_CONDITION_PRIORITY}`,
      );
    }
  }
}

function checkLeaf(
  node: Record<string, unknown>,
  facts: FactTable,
  path: Path,
  report: ReportIssue,
): void {
  const fact = node.fact;
  const operator = node.operator;
  if (typeof fact !== 'string') {
    report([...path, 'fact'], 'fact must be a string');
    return;
  }
  const def = Object.hasOwn(facts, fact) ? facts[fact] : undefined;
  if (def === undefined) {
    report(
      [...path, 'fact'],
      `unknown fact "${fact}"; known facts: ${Object.keys(facts).join(', ')}`,
    );
  }
  if (typeof operator !== 'string' || !(OPERATORS as readonly string[]).includes(operator)) {
    report(
      [...path, 'operator'],
      `unknown operator ${JSON.stringify(operator)}; allowed: ${OPERATORS.join(', ')}`,
    );
    return;
  }
  if (!Object.hasOwn(node, 'value')) {
    report([...path, 'value'], 'value is required');
    return;
  }
  if (def === undefined) return;
  const op = operator as Operator;
  const allowed = OPERATORS_BY_FACT_TYPE[def.type];
  if (!allowed.includes(op)) {
    report(
      [...path, 'operator'],
      `operator "${op}" does not apply to ${def.type} fact "${fact}"; use ${allowed.join(', ')}`,
    );
    return;
  }
  const value = node.value;
  const valuePath = [...path, 'value'];
  const scalarType = def.type === 'string[]' ? 'string' : def.type;
  const checkScalar = (v: unknown, p: Path): void => {
    if (typeof v !== scalarType) {
      report(p, `expected a ${scalarType} literal for fact "${fact}"`);
      return;
    }
    if (typeof v === 'string') {
      if (v.length > MAX_STRING_VALUE)
        report(p, `strings are at most ${MAX_STRING_VALUE} characters`);
      else if (def.values !== undefined && !def.values.includes(v)) {
        report(p, `"${v}" is not a value of "${fact}"; expected one of ${def.values.join(', ')}`);
      }
    }
    if (typeof v === 'number' && !Number.isFinite(v)) report(p, 'numbers must be finite');
  };
  if (op === 'in' || op === 'notIn') {
    if (!Array.isArray(value)) {
      report(valuePath, `"${op}" compares against an array of values`);
      return;
    }
    if (value.length > MAX_IN_VALUES) {
      report(valuePath, `at most ${MAX_IN_VALUES} values`);
      return;
    }
    value.forEach((v, i) => checkScalar(v, [...valuePath, i]));
    return;
  }
  if (typeof value === 'object' && value !== null) {
    report(valuePath, 'value must be a literal (fact references are not supported)');
    return;
  }
  checkScalar(value, valuePath);
}

/** A compiled condition: a plain synchronous predicate over (subject, workspace). */
export type Predicate = (subject: unknown, workspace: unknown) => boolean;

const TRUE: Predicate = () => true;

/** json-rules-engine's `numberValidator`, kept verbatim so both paths agree on odd inputs. */
function isNumberish(v: unknown): boolean {
  // Same answer as the engine's check, without allocating a string for the common case.
  if (typeof v === 'number') return v === v;
  return Number.parseFloat(v as string).toString() !== 'NaN';
}

/**
 * Compiles a validated condition tree into a predicate with json-rules-engine's semantics:
 * `all` is every (true when empty), `any` is some (true when empty, as the engine does), `not`
 * negates, operators are the engine's built-ins including their fact-value validators.
 * Condition priorities only change the order of evaluation, never the result, so they are ignored.
 */
export function compileCondition(node: Condition, facts: FactTable): Predicate {
  if ('all' in node) {
    const parts = node.all.map((c) => compileCondition(c, facts));
    if (parts.length === 0) return TRUE;
    if (parts.length === 1) return parts[0]!;
    if (parts.length === 2) {
      const [a, b] = parts as [Predicate, Predicate];
      return (s, w) => a(s, w) && b(s, w);
    }
    return (s, w) => {
      for (let i = 0; i < parts.length; i++) if (!parts[i]!(s, w)) return false;
      return true;
    };
  }
  if ('any' in node) {
    const parts = node.any.map((c) => compileCondition(c, facts));
    if (parts.length === 0) return TRUE;
    if (parts.length === 1) return parts[0]!;
    return (s, w) => {
      for (let i = 0; i < parts.length; i++) if (parts[i]!(s, w)) return true;
      return false;
    };
  }
  if ('not' in node) {
    const inner = compileCondition(node.not, facts);
    return (s, w) => !inner(s, w);
  }
  const def = facts[node.fact];
  if (def === undefined) throw new Error(`compileCondition: unknown fact "${node.fact}"`);
  const get = def.get;
  const v = node.value;
  const list = v as readonly unknown[];
  const n = v as number;
  switch (node.operator) {
    case 'equal':
      return (s, w) => get(s, w) === v;
    case 'notEqual':
      return (s, w) => get(s, w) !== v;
    case 'in':
      return (s, w) => list.indexOf(get(s, w)) > -1;
    case 'notIn':
      return (s, w) => list.indexOf(get(s, w)) === -1;
    case 'contains':
      return (s, w) => {
        const a = get(s, w);
        return Array.isArray(a) && a.indexOf(v) > -1;
      };
    case 'doesNotContain':
      return (s, w) => {
        const a = get(s, w);
        return Array.isArray(a) && a.indexOf(v) === -1;
      };
    case 'lessThan':
      return (s, w) => {
        const a = get(s, w);
        return isNumberish(a) && (a as number) < n;
      };
    case 'lessThanInclusive':
      return (s, w) => {
        const a = get(s, w);
        return isNumberish(a) && (a as number) <= n;
      };
    case 'greaterThan':
      return (s, w) => {
        const a = get(s, w);
        return isNumberish(a) && (a as number) > n;
      };
    case 'greaterThanInclusive':
      return (s, w) => {
        const a = get(s, w);
        return isNumberish(a) && (a as number) >= n;
      };
    default: {
      const never: never = node.operator;
      throw new Error(`compileCondition: unknown operator ${String(never)}`);
    }
  }
}
