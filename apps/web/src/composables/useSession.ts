import { computed, ref, watch } from 'vue';
import { useQuery, useQueryClient } from '@tanstack/vue-query';
import { trpc, type Me } from '../trpc';
import { isUnauthorized } from '../lib/errors';
import { queryClient } from '../lib/query';

export const ME_KEY = ['me'] as const;

/** The signed-in person, or null when nobody is. */
export async function fetchMe(): Promise<Me | null> {
  try {
    return await trpc.auth.me.query();
  } catch (e) {
    if (isUnauthorized(e)) return null;
    throw e;
  }
}

/** For the router guard: cached, so navigation does not refetch each time. */
export function ensureMe(): Promise<Me | null> {
  return queryClient.ensureQueryData({ queryKey: ME_KEY, queryFn: fetchMe, staleTime: 60_000 });
}

const STORAGE_KEY = 'cw.workspace';
const chosen = ref<string | null>(
  typeof localStorage === 'undefined' ? null : localStorage.getItem(STORAGE_KEY),
);

/** The person, their workspaces, and the one they are looking at. */
export function useSession() {
  const qc = useQueryClient();
  const me = useQuery({ queryKey: ME_KEY, queryFn: fetchMe, staleTime: 60_000 });
  const user = computed(() => me.data.value?.user ?? null);
  const workspaces = computed(() => me.data.value?.workspaces ?? []);
  const workspace = computed(
    () =>
      workspaces.value.find((w) => w.workspaceId === chosen.value) ?? workspaces.value[0] ?? null,
  );
  const workspaceId = computed(() => workspace.value?.workspaceId ?? null);
  const isAdmin = computed(() => user.value?.isAdmin === true);

  function setWorkspace(id: string) {
    chosen.value = id;
    try {
      localStorage.setItem(STORAGE_KEY, id);
    } catch {
      // private mode: the choice lasts for this tab
    }
  }

  async function signOut() {
    try {
      await trpc.auth.signOut.mutate();
    } finally {
      qc.clear();
      qc.setQueryData(ME_KEY, null);
    }
  }

  return { me, user, workspaces, workspace, workspaceId, isAdmin, setWorkspace, signOut };
}

/** Run `fn` whenever the current workspace changes (and once now). */
export function onWorkspace(
  workspaceId: { value: string | null },
  fn: (id: string | null) => void,
) {
  watch(() => workspaceId.value, fn, { immediate: true });
}
