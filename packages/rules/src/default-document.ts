import { defaultRuleDocumentSource } from './default-rules.js';
import type { RuleDocument } from './document.js';
import { validateRuleDocument } from './validate.js';

function load(): RuleDocument {
  const result = validateRuleDocument(defaultRuleDocumentSource);
  if (!result.ok) {
    // A broken seed is a programmer error: fail loudly at import.
    throw new Error(`default rule document is invalid: ${JSON.stringify(result.errors)}`);
  }
  return result.doc;
}

/** The seeded rule set, validated (every example passes) and deep-frozen. */
export const defaultRuleDocument: RuleDocument = load();
