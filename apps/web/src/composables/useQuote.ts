import { computed, type Ref } from 'vue';
import { keepPreviousData, useQuery } from '@tanstack/vue-query';
import { trpc, type Job } from '../trpc';

/** A live quote for the job being configured; the previous one stays while the next loads. */
export function useQuote(workspaceId: Ref<string | null>, job: Ref<Job | null>) {
  return useQuery({
    queryKey: computed(() => ['quote', workspaceId.value, job.value]),
    queryFn: () => trpc.usage.quote.query({ workspaceId: workspaceId.value!, job: job.value! }),
    enabled: computed(() => workspaceId.value !== null && job.value !== null),
    placeholderData: keepPreviousData,
    staleTime: 0,
    retry: false,
  });
}
