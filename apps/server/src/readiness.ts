import { isCreditsError } from '@credits/domain';
import type { Store } from '@credits/store';

/** What `/readyz` answers about the store. */
export type Readiness =
  | { ready: true }
  | {
      ready: false;
      /** For people: what failed. */
      reason: string;
      /** For machines: the store's reason (STORE_UNAVAILABLE, STORAGE_FULL, …) or WRITE_PROBE_TIMEOUT. */
      code: string;
    };

export interface WriteProbeOptions {
  /** Longest a `/readyz` waits for the probe, and the database's own bound on it (default 1500 ms). */
  timeoutMs?: number;
  /** A finished probe's answer is reused this long (default 1000 ms), so `/readyz` stays cheap. */
  cacheMs?: number;
  /** The probe row (default `readyz`; every process writes the same row). */
  id?: string;
}

/**
 * Readiness as "the store takes writes": a bounded write probe (`store.probeWrite`, one tiny
 * upsert) whose answer is cached for `cacheMs`; at most one probe runs at a time. A probe
 * still running after `timeoutMs` answers not-ready at once (the store is stuck: a held
 * lock, a frozen disk) until it finishes; a failed probe answers not-ready with the store's
 * reason (STORE_UNAVAILABLE, STORAGE_FULL). It recovers by itself: the next probe after the
 * cache runs out decides again.
 */
export function writeProbe(
  store: Pick<Store, 'probeWrite'>,
  opts: WriteProbeOptions = {},
): () => Promise<Readiness> {
  const timeoutMs = opts.timeoutMs ?? 1500;
  const cacheMs = opts.cacheMs ?? 1000;
  const id = opts.id ?? 'readyz';
  let last: { at: number; result: Readiness } | null = null;
  let inFlight: { startedAt: number; done: Promise<Readiness> } | null = null;

  const stuck = (ms: number): Readiness => ({
    ready: false,
    code: 'WRITE_PROBE_TIMEOUT',
    reason: `the store has not finished a one-row write in ${ms} ms (a held lock, a stuck or full disk, an unreachable database)`,
  });

  return async () => {
    const now = Date.now();
    if (last && now - last.at < cacheMs) return last.result;
    if (!inFlight) {
      const probe = {
        startedAt: now,
        done: store.probeWrite({ id, now, timeoutMs }).then(
          (): Readiness => ({ ready: true }),
          (err: unknown): Readiness => ({
            ready: false,
            code: isCreditsError(err) ? err.reason : 'WRITE_FAILED',
            reason: `the store refused a one-row write: ${err instanceof Error ? err.message : String(err)}`,
          }),
        ),
      };
      inFlight = probe;
      void probe.done.then((result) => {
        last = { at: Date.now(), result };
        inFlight = null;
      });
    }
    const probe = inFlight;
    const left = probe.startedAt + timeoutMs - now;
    if (left <= 0) return stuck(now - probe.startedAt);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        probe.done,
        new Promise<Readiness>((resolve) => {
          timer = setTimeout(() => resolve(stuck(Date.now() - probe.startedAt)), left);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };
}
