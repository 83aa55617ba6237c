import { ref } from 'vue';
import { errorMessage } from '../lib/errors';

/**
 * A form's action: `busy` while it runs, its failure as the message the form shows.
 *
 * @example
 * const { busy, error, run } = useAction();
 * const submit = () => run(async () => { await trpc.x.mutate(input); });
 */
export function useAction() {
  const busy = ref(false);
  const error = ref<string | null>(null);
  /** Run `fn`; a failure becomes `error` (and goes to `onError`, for per-field messages). */
  async function run(fn: () => Promise<void>, onError?: (e: unknown) => void): Promise<void> {
    busy.value = true;
    error.value = null;
    try {
      await fn();
    } catch (e) {
      error.value = errorMessage(e);
      onError?.(e);
    } finally {
      busy.value = false;
    }
  }
  return { busy, error, run };
}
