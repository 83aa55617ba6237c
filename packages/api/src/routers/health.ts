import type { TRPCRouterRecord } from '@trpc/server';
import { publicProcedure } from '../trpc.js';

export const healthRouter = {
  /** Liveness and the store's write-queue figures. */
  check: publicProcedure.query(({ ctx }) => ({ ok: true as const, store: ctx.store.dialect, time: ctx.now() })),
} satisfies TRPCRouterRecord;
