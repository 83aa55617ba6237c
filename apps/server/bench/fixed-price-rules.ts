import { RulesService } from '@credits/api';
import type { Pricer, Priced } from '@credits/rules';

type ActiveRules = Awaited<ReturnType<RulesService['current']>>;

/**
 * A {@link RulesService} whose pricer answers one constant price for every job: the bench's
 * "pricing taken out of the path" server. It keeps the seeded rule document and version (so
 * workspace creation, trial grants and ledger entries look as they do in production); only
 * `price()` changes. Used by `bench-server.ts` only; production code has no hook for it.
 *
 * @example
 * const rules = new FixedPriceRules({ store, credits: 10 });
 * await rules.seed(Date.now());
 * (await rules.current()).pricer.price(job, facts); // always 10 credits
 */
export class FixedPriceRules extends RulesService {
  private fixed: ActiveRules | null = null;
  private readonly credits: number;

  constructor(input: { store: ConstructorParameters<typeof RulesService>[0]; credits: number }) {
    super(input.store);
    if (!Number.isSafeInteger(input.credits) || input.credits <= 0) {
      throw new Error(`fixed price must be a positive integer, got ${input.credits}`);
    }
    this.credits = input.credits;
  }

  override async current(): Promise<ActiveRules> {
    if (this.fixed) return this.fixed;
    const seeded = await super.current();
    this.fixed = {
      ...seeded,
      pricer: constantPricer({ version: seeded.version, credits: this.credits }),
    };
    return this.fixed;
  }

  /** Every version prices the same: holds captured later see the same constant. */
  override async version(_version: number): Promise<ActiveRules> {
    return this.current();
  }
}

/** A pricer that does no work: the same answer (never mutated by callers) for every job. */
export function constantPricer(input: { version: number; credits: number }): Pricer {
  const answer: Priced = {
    ok: true,
    credits: input.credits,
    breakdown: [
      {
        label: `Bench fixed price: ${input.credits} credits`,
        type: 'flat',
        credits: input.credits,
      },
    ],
    trialApplies: false,
    ruleVersion: input.version,
  };
  Object.freeze(answer.breakdown);
  Object.freeze(answer);
  return { version: input.version, usesTrialRemaining: false, price: () => answer };
}
