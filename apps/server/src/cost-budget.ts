import type { MiddlewareHandler } from 'hono';
import type { AuthVariables } from './auth-middleware.js';

/**
 * How many expensive requests (exports, summaries, rule simulations) may run at once: per
 * caller and in all. A request that finds no room is refused at once (429 with Retry-After)
 * instead of queueing, so one caller cannot stack work that others then wait behind. Counted
 * per process: each process protects its own event loop.
 *
 * @example
 * const budget = new CostBudget({ perCaller: 1, total: 4 });
 * const release = budget.tryAcquire('user:42');
 * if (!release) return tooBusy();
 * try { await work(); } finally { release(); }
 */
export class CostBudget {
  private readonly running = new Map<string, number>();
  private total = 0;

  constructor(readonly limits: { perCaller: number; total: number }) {}

  /** A release function, or null when the caller (or the process) is at its limit. */
  tryAcquire(caller: string): (() => void) | null {
    const mine = this.running.get(caller) ?? 0;
    if (mine >= this.limits.perCaller || this.total >= this.limits.total) return null;
    this.running.set(caller, mine + 1);
    this.total += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total -= 1;
      const left = (this.running.get(caller) ?? 1) - 1;
      if (left <= 0) this.running.delete(caller);
      else this.running.set(caller, left);
    };
  }

  /** Requests running now (all callers). */
  get inFlight(): number {
    return this.total;
  }
}

/** Procedures whose cost grows with the data they read: never batched, and budgeted. */
export const EXPENSIVE_PROCEDURES: ReadonlySet<string> = new Set([
  'usage.summary',
  'admin.rules.simulate',
]);

/**
 * Before tRPC: a request (a tRPC batch included) may name at most one expensive procedure
 * (400 otherwise: fifty summaries in one batch are fifty requests' work), and it must find
 * room in the caller's budget (429 with Retry-After otherwise). Runs after the auth
 * middleware; anonymous callers (refused by the procedure anyway) share one key.
 */
export function expensiveProcedureGuard(
  budget: CostBudget,
): MiddlewareHandler<{ Variables: AuthVariables }> {
  return async (c, next) => {
    const names = c.req.path.slice('/trpc/'.length).split(',');
    const expensive = names.filter((n) => EXPENSIVE_PROCEDURES.has(n));
    if (expensive.length === 0) return next();
    if (expensive.length > 1)
      return c.json(
        {
          error: {
            message: `${expensive.join(', ')}: at most one of these per request.`,
            data: { reason: 'VALIDATION' },
          },
        },
        400,
      );
    const release = budget.tryAcquire(c.get('caller')?.id ?? 'anonymous');
    if (!release) {
      c.header('retry-after', '5');
      return c.json(
        {
          error: {
            message: 'This takes a while; one at a time, please. Try again shortly.',
            data: { reason: 'RATE_LIMITED' },
          },
        },
        429,
      );
    }
    try {
      await next();
    } finally {
      release();
    }
  };
}
