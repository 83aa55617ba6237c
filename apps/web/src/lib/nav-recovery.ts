import { ref } from 'vue';
import type { RouteLocationRaw, Router, RouteRecordRaw } from 'vue-router';

/**
 * Navigation that survives the server going away: every page's code is fetched once the
 * app is idle (so moving between pages needs nothing from the server, and each page shows
 * its own error with "Try again"), and a page whose code cannot be fetched leaves a banner
 * with "Try again" instead of a click that does nothing.
 */
export const navFailure = ref<{ to: RouteLocationRaw; message: string } | null>(null);

type Loader = () => Promise<unknown>;

/** How long after the first navigation the other pages' code starts to come. */
export const PREFETCH_DELAY_MS = 2500;

function loaders(routes: readonly RouteRecordRaw[]): Loader[] {
  const out: Loader[] = [];
  for (const r of routes) {
    const c = (r as { component?: unknown }).component;
    if (typeof c === 'function') out.push(c as Loader);
    if (r.children) out.push(...loaders(r.children));
  }
  return out;
}

/** Fetch every page's code in the background, one at a time, when the browser is idle. */
export function prefetchPages(routes: readonly RouteRecordRaw[]): void {
  const queue = loaders(routes);
  const next = () => {
    const load = queue.shift();
    if (!load) return;
    load().then(idle, idle);
  };
  const idle = () => {
    if (typeof requestIdleCallback === 'function') requestIdleCallback(next, { timeout: 2000 });
    else setTimeout(next, 50);
  };
  idle();
}

export function installNavRecovery(router: Router, routes: readonly RouteRecordRaw[]): void {
  router.onError((error, to) => {
    navFailure.value = {
      to: to.fullPath,
      message:
        error instanceof Error && /fetch|import|module/i.test(error.message)
          ? 'Could not reach the server to open this page.'
          : 'This page could not be opened.',
    };
  });
  router.afterEach((_to, _from, failure) => {
    if (!failure) navFailure.value = null;
  });
  // After the first page has what it needs: the prefetch never competes with its load.
  void router.isReady().then(
    () => setTimeout(() => prefetchPages(routes), PREFETCH_DELAY_MS),
    () => undefined,
  );
}

/** "Try again": the same navigation once more. */
export async function retryNavigation(router: Router): Promise<void> {
  const f = navFailure.value;
  if (!f) return;
  navFailure.value = null;
  await router.push(f.to).catch(() => undefined);
}
