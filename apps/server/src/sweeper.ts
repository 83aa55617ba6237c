import type { Logger } from 'pino';
import type { Store } from '@credits/store';

/** Idempotency keys are kept a week, well past the promised 24 hours. */
export const IDEMPOTENCY_RETENTION_MS = 7 * 24 * 3600 * 1000;

/** One pass: expire holds past their TTL, expire lots past their date, forget old keys. */
export async function sweepOnce(store: Store, now: number) {
  const holds = await store.expireHolds({ now });
  const lots = await store.expireLots({ now });
  const keys = await store.pruneIdempotencyKeys({ before: now - IDEMPOTENCY_RETENTION_MS });
  return { holds, lots, keys };
}

export function startSweeper(opts: { store: Store; clock: () => number; intervalMs: number; logger: Logger }) {
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  const timer = setInterval(() => {
    running = running.then(async () => {
      if (stopped) return;
      try {
        const r = await sweepOnce(opts.store, opts.clock());
        if (r.holds || r.lots || r.keys) opts.logger.info(r, 'sweep');
      } catch (err) {
        opts.logger.error({ err }, 'sweep failed');
      }
    });
  }, opts.intervalMs);
  timer.unref();
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
    idle: () => running,
  };
}
