import { ref } from 'vue';
import type { Quote, WalletAction, WalletKind } from '../trpc';

/** Which wallet the buy dialog is open for (one dialog for the whole app). */
export const buyingWallet = ref<WalletKind | null>(null);
/**
 * What a spending limit says about the job the dialog was opened for (a studio's quote), or
 * null: the dialog then explains that buying credits does not lift the limit.
 */
export const buyingFor = ref<Quote['spendLimit']>(null);
export const upgradeOpen = ref(false);

export function walletOfBuy(action: WalletAction): WalletKind | null {
  if (action === 'buy_image_credits') return 'image_credits';
  if (action === 'buy_video_credits') return 'video_credits';
  return null;
}

/**
 * Open the buy dialog for a buy action, or the plan dialog for an upgrade. From a studio,
 * `spendLimit` is its quote's word on limits.
 */
export function startBuy(action: WalletAction, spendLimit: Quote['spendLimit'] = null) {
  const wallet = walletOfBuy(action);
  buyingFor.value = wallet ? spendLimit : null;
  if (wallet) buyingWallet.value = wallet;
  else if (action === 'upgrade_plan') upgradeOpen.value = true;
}
