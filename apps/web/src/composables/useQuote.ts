import { computed, type Ref } from 'vue';
import { keepPreviousData, useQuery } from '@tanstack/vue-query';
import { trpc, type Job, type Quote } from '../trpc';

/** A stable key for a job: the same choices give the same string. */
export function jobKey(job: Job | null): string | null {
  return job === null ? null : JSON.stringify(job);
}

/**
 * A live quote for the job being configured. While the next quote loads, the previous one
 * stays on screen but is marked `pending`: it belongs to other inputs, so `current` is null
 * and nothing may act on it (Generate stays disabled). `current` is only ever the quote of
 * exactly the job on screen; `shownFor` says which job the shown quote was made for.
 */
export function useQuote(workspaceId: Ref<string | null>, job: Ref<Job | null>) {
  const query = useQuery({
    queryKey: computed(() => ['quote', workspaceId.value, job.value]),
    queryFn: async (): Promise<{ key: string | null; quote: Quote }> => {
      const asked = job.value!;
      const quote = await trpc.usage.quote.query({ workspaceId: workspaceId.value!, job: asked });
      return { key: jobKey(asked), quote };
    },
    enabled: computed(() => workspaceId.value !== null && job.value !== null),
    placeholderData: keepPreviousData,
    staleTime: 0,
    retry: false,
  });
  /** The job on screen has no valid inputs: no estimate at all. */
  const invalid = computed(() => job.value === null);
  /** The quote on screen, if any: possibly the previous inputs' one while the next loads. */
  const shown = computed(() => (invalid.value ? null : (query.data.value ?? null)));
  /** True when what is shown (or not yet shown) is not the quote of the inputs on screen. */
  const pending = computed(
    () =>
      !invalid.value &&
      (shown.value === null ||
        query.isPlaceholderData.value ||
        shown.value.key !== jobKey(job.value)),
  );
  const current = computed<Quote | null>(() =>
    !pending.value && !query.isError.value && shown.value ? shown.value.quote : null,
  );
  return {
    query,
    invalid,
    pending,
    current,
    shownQuote: computed(() => shown.value?.quote ?? null),
    shownFor: computed(() => shown.value?.key ?? null),
    error: computed(() => (invalid.value ? null : query.error.value)),
    isFetching: query.isFetching,
  };
}
