/**
 * Writes src/default-rules.json from the seeded document (src/default-rules.ts), for the CLI
 * (`rules validate FILE`) and the admin editor. A test fails if the two drift apart.
 * Run: `pnpm tsx packages/rules/scripts/write-default-json.ts`.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defaultRuleDocumentSource } from '../src/default-rules.js';

const target = fileURLToPath(new URL('../src/default-rules.json', import.meta.url));
writeFileSync(target, `${JSON.stringify(defaultRuleDocumentSource, null, 2)}\n`);
console.log(`wrote ${target}`);
