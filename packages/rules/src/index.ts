export * from './job.js';
export * from './types.js';
export {
  OPERATORS,
  OPERATORS_BY_FACT_TYPE,
  compileCondition,
  type Condition,
  type ConditionValue,
  type FactCondition,
  type BooleanCondition,
  type TopLevelCondition,
  type Operator,
  type Predicate,
} from './conditions.js';
export {
  FACTS_BY_KIND,
  FACT_DEFAULTS,
  TRIAL_ELIGIBILITY_FACTS,
  type FactType,
  type TrialEligibilityInput,
} from './facts.js';
export {
  BPS_ONE,
  EVENT_TYPES,
  RATE_UNITS,
  UNAVAILABLE_REASONS,
  UNPRICED_MESSAGE,
  applyBps,
  combine,
  factorToBps,
  normalizeEvent,
  type CombineResult,
  type CombinerEvent,
  type EventType,
  type RateUnit,
  type RuleEvent,
  type UnavailableReason,
} from './combine.js';
export {
  JOB_KINDS,
  LIMITS,
  UNITS_BY_KIND,
  formatPath,
  ruleDocumentSchema,
  type ExampleWorkspace,
  type Rule,
  type RuleDocument,
  type RuleExample,
  type RuleSection,
} from './document.js';
export {
  EXAMPLE_WORKSPACE_DEFAULT,
  FORBIDDEN_KEYS,
  preflight,
  runExamples,
  validateRuleDocument,
  type ExampleFailure,
  type ExamplesReport,
  type ValidationError,
  type ValidationResult,
} from './validate.js';
export { compileRuleDocument } from './compile.js';
export { ENGINE_OPTIONS, JsonPathRefusedError, priceWithEngine } from './engine.js';
export { trialGrant, type TrialGrant } from './trial.js';
export { DEFAULT_PRICES } from './default-rules.js';
export { defaultRuleDocument } from './default-document.js';
export { diffRuleDocuments, type DocumentChange } from './diff.js';
export {
  simulate,
  type SimulatedPrice,
  type SimulationChange,
  type SimulationJob,
  type SimulationReport,
} from './simulate.js';
