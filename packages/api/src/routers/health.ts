import type { TRPCRouterRecord } from '@trpc/server';
import { publicProcedure } from '../trpc.js';

export const healthRouter = {
  /** Liveness and which store serves (write-queue figures are on /metrics). */
  check: publicProcedure.query(({ ctx }) => ({
    ok: true as const,
    store: ctx.store.dialect,
    time: ctx.now(),
  })),
} satisfies TRPCRouterRecord;
