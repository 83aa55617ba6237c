import { ref } from 'vue';
import type { WalletAction, WalletKind } from '../trpc';

/** Which wallet the buy dialog is open for (one dialog for the whole app). */
export const buyingWallet = ref<WalletKind | null>(null);
export const upgradeOpen = ref(false);

export function walletOfBuy(action: WalletAction): WalletKind | null {
  if (action === 'buy_image_credits') return 'image_credits';
  if (action === 'buy_video_credits') return 'video_credits';
  return null;
}

/** Open the buy dialog for a buy action, or the plan dialog for an upgrade. */
export function startBuy(action: WalletAction) {
  const wallet = walletOfBuy(action);
  if (wallet) buyingWallet.value = wallet;
  else if (action === 'upgrade_plan') upgradeOpen.value = true;
}
