import type { WalletKind } from '@credits/domain';
import type { Driver } from '../executor.js';
import { methods } from '../methods.js';
import { AutoTopUpCatchUp } from './auto-top-up-catch-up.js';
import { AutoTopUpPurchases } from './auto-top-up-purchases.js';
import { AutoTopUpSettings } from './auto-top-up-settings.js';
import type { AutoTopUpStore } from './types.js';

/**
 * Auto top-up over a {@link Driver}, one part per responsibility: saved payment methods,
 * consents (kept word for word) and settings (`auto-top-up-settings.ts`); the purchases it
 * starts — one per threshold crossing, one pending per wallet, never above the cycle's money
 * cap — settled from the payment webhook's outcome (`auto-top-up-purchases.ts`); the
 * sweeper's catch-up of unsettled attempts and lost crossings (`auto-top-up-catch-up.ts`).
 */
export function autoTopUpStore(
  driver: Driver,
  /** The wallet's label as the catalog has it now (for notification texts). */
  walletLabel: (kind: WalletKind) => string,
): AutoTopUpStore {
  return {
    ...methods(new AutoTopUpSettings(driver)),
    ...methods(new AutoTopUpPurchases(driver, walletLabel)),
    ...methods(new AutoTopUpCatchUp(driver)),
  };
}
