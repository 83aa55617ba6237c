import {
  compileRuleDocument,
  defaultRuleDocument,
  validateRuleDocument,
  type Pricer,
  type RuleDocument,
} from '@credits/rules';
import { CreditsError } from '@credits/domain';
import type { Store } from '@credits/store';

export interface ActiveRules {
  version: number;
  document: RuleDocument;
  pricer: Pricer;
}

/**
 * The compiled rule sets. Each published version compiles once into a {@link Pricer} and
 * never changes, so a quote priced by one object always names one version. The active
 * version is re-read from the store at most every `refreshMs` (other server processes may
 * publish), and at once after a publish in this process.
 */
export class RulesService {
  private readonly compiled = new Map<number, ActiveRules>();
  private active: ActiveRules | null = null;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private refreshing: Promise<ActiveRules> | null = null;

  constructor(
    private readonly store: Store,
    private readonly opts: { refreshMs: number; clock: () => number } = {
      refreshMs: 1000,
      clock: Date.now,
    },
  ) {}

  /** Publish the default rule set as version 1 on an empty store. */
  async seed(now: number): Promise<void> {
    if (await this.store.activeRules()) return;
    // Several processes may start on a fresh database at once: only the first publishes.
    await this.store.publishRules({
      document: defaultRuleDocument,
      createdBy: 'system',
      reason: 'Default rule set',
      now,
      onlyIfNone: true,
    });
  }

  private compile(version: number, document: unknown): ActiveRules {
    let c = this.compiled.get(version);
    if (!c) {
      const valid = validateRuleDocument(document);
      if (!valid.ok)
        throw new Error(
          `stored rule version ${version} is invalid: ${JSON.stringify(valid.errors)}`,
        );
      c = { version, document: valid.doc, pricer: compileRuleDocument(valid.doc, version) };
      this.compiled.set(version, c);
    }
    return c;
  }

  /** The active rule set (compiled). */
  async current(): Promise<ActiveRules> {
    const now = this.opts.clock();
    if (this.active && now - this.checkedAt < this.opts.refreshMs) return this.active;
    if (!this.refreshing) {
      this.refreshing = (async () => {
        try {
          const row = await this.store.activeRules();
          if (!row) throw new Error('no active rule set: run migrate and seed');
          // Never step back to an older version than one activated here meanwhile.
          if (!this.active || row.version >= this.active.version)
            this.active = this.compile(row.version, row.document);
          this.checkedAt = now;
          return this.active;
        } finally {
          this.refreshing = null;
        }
      })();
    }
    return this.refreshing;
  }

  /** A given version (holds keep the price of the version that priced them). */
  async version(version: number): Promise<ActiveRules> {
    const cached = this.compiled.get(version);
    if (cached) return cached;
    const row = await this.store.getRuleVersion(version);
    if (!row) throw new CreditsError('NOT_FOUND', `No rule version ${version}.`, { version });
    return this.compile(row.version, row.document);
  }

  /** After a publish in this process: use the new version at once. */
  activate(version: number, document: unknown): ActiveRules {
    if (this.active && this.active.version > version) return this.active;
    this.active = this.compile(version, document);
    this.checkedAt = this.opts.clock();
    return this.active;
  }
}
