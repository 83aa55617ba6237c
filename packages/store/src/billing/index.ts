import { AdjustmentStore } from './adjustments.js';
import { AlertStore } from './alerts.js';
import { CatalogStore } from './catalog.js';
import { CycleStore } from './cycles.js';
import { OrderStore } from './orders.js';
import { PaymentStore } from './payments.js';
import type { BillingStore } from './types.js';
import { methods } from '../methods.js';

/**
 * The billing store, one part per responsibility: plans, packs and catalog
 * (`catalog.ts`); orders at checkout (`orders.ts`); payment events settling them
 * (`payments.ts`); refunds of paid orders and manual adjustments (`adjustments.ts`);
 * notifications and their deliveries (`alerts.ts`); plan changes and cycles (`cycles.ts`).
 */
export function billingStore(...deps: ConstructorParameters<typeof CatalogStore>): BillingStore {
  return {
    ...methods(new CatalogStore(...deps)),
    ...methods(new OrderStore(...deps)),
    ...methods(new PaymentStore(...deps)),
    ...methods(new AdjustmentStore(...deps)),
    ...methods(new AlertStore(...deps)),
    ...methods(new CycleStore(...deps)),
  };
}
