import { computed, type Ref } from 'vue';
import { useQuery, useQueryClient } from '@tanstack/vue-query';
import { trpc, type RouterOutputs } from '../trpc';

export type SpendingLimits = RouterOutputs['spending']['limits'];
export type LimitView = SpendingLimits['limits'][number];
export type AutoTopUpState = RouterOutputs['autoTopUp']['get'];
export type AutoTopUpWallet = AutoTopUpState['wallets'][number];

/**
 * Spending limits and auto top-up for the workspace (everyone who may read it), plus the
 * members and keys an owner may put a limit on. `refresh` after any change.
 */
export function useSpendingControls(workspaceId: Ref<string | null>, canEdit: Ref<boolean>) {
  const qc = useQueryClient();
  const enabled = computed(() => workspaceId.value !== null);
  const limits = useQuery({
    queryKey: computed(() => ['spending', workspaceId.value]),
    queryFn: () => trpc.spending.limits.query({ workspaceId: workspaceId.value! }),
    enabled,
  });
  const autoTopUp = useQuery({
    queryKey: computed(() => ['autoTopUp', workspaceId.value]),
    queryFn: () => trpc.autoTopUp.get.query({ workspaceId: workspaceId.value! }),
    enabled,
  });
  const members = useQuery({
    queryKey: computed(() => ['members', workspaceId.value]),
    queryFn: () => trpc.workspaces.members.query({ workspaceId: workspaceId.value! }),
    enabled: computed(() => enabled.value && canEdit.value),
  });
  // Keys are listed to owners only (the API says so too).
  const keys = useQuery({
    queryKey: computed(() => ['keys', workspaceId.value]),
    queryFn: () => trpc.workspaces.keys.list.query({ workspaceId: workspaceId.value! }),
    enabled: computed(() => enabled.value && canEdit.value),
  });
  async function refresh() {
    await Promise.all([
      qc.invalidateQueries({ queryKey: ['spending'] }),
      qc.invalidateQueries({ queryKey: ['autoTopUp'] }),
      qc.invalidateQueries({ queryKey: ['notifications'] }),
    ]);
  }
  return { limits, autoTopUp, members, keys, refresh };
}

/** "120" or "120.5" or "120.50" (a currency with cents) → 12050; null when not such an amount. */
export function parseMoney(text: string): number | null {
  const m = /^\s*(\d{1,9})(?:\.(\d{1,2}))?\s*$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] ?? '').padEnd(2, '0'));
}

/** "50, 80, 100" → [50, 80, 100]; null when any is not a whole percent 1–100. */
export function parseThresholds(text: string): number[] | null {
  const parts = text
    .split(/[\s,]+/)
    .map((p) => p.replace(/%$/, ''))
    .filter(Boolean);
  if (parts.some((p) => !/^\d{1,3}$/.test(p))) return null;
  const values = parts.map(Number);
  if (values.some((v) => v < 1 || v > 100) || new Set(values).size !== values.length) return null;
  return values.sort((a, b) => a - b);
}
