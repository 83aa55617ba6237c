import { computed, type Ref } from 'vue';
import { useQuery } from '@tanstack/vue-query';
import { trpc, type WalletKind } from '../trpc';

/** The workspace's wallets as the API returns them (status and actions decided there). */
export function useWallets(workspaceId: Ref<string | null>) {
  const query = useQuery({
    queryKey: computed(() => ['wallets', workspaceId.value]),
    queryFn: () => trpc.wallets.list.query({ workspaceId: workspaceId.value! }),
    enabled: computed(() => workspaceId.value !== null),
  });
  const wallets = computed(() => query.data.value?.wallets ?? []);
  const byKind = (kind: WalletKind) =>
    computed(() => wallets.value.find((w) => w.kind === kind) ?? null);
  return { query, wallets, byKind };
}
