import { AlertStore } from './alerts.js';
import { CatalogStore } from './catalog.js';
import { CycleStore } from './cycles.js';
import { OrderStore } from './orders.js';
import type { BillingStore } from './types.js';

/** The public methods of an object, bound to it. */
type Methods<T> = {
  [K in keyof T as T[K] extends (...args: never[]) => unknown ? K : never]: T[K];
};
function methods<T extends object>(o: T): Methods<T> {
  const out: Record<string, unknown> = {};
  for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(o))) {
    const f = (o as Record<string, unknown>)[name];
    if (name !== 'constructor' && typeof f === 'function') out[name] = f.bind(o);
  }
  return out as Methods<T>;
}

/**
 * The billing store, one part per responsibility: plans, packs and catalog
 * (`catalog.ts`); orders, payments, refunds and adjustments (`orders.ts`); notifications and
 * their deliveries (`alerts.ts`); plan changes and cycles (`cycles.ts`).
 */
export function billingStore(...deps: ConstructorParameters<typeof CatalogStore>): BillingStore {
  return {
    ...methods(new CatalogStore(...deps)),
    ...methods(new OrderStore(...deps)),
    ...methods(new AlertStore(...deps)),
    ...methods(new CycleStore(...deps)),
  };
}
