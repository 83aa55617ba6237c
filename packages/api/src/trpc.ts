import { initTRPC, TRPCError } from '@trpc/server';
import { ZodError, z } from 'zod';
import { CreditsError } from '@credits/domain';
import type { Store } from '@credits/store';
import type { RulesService } from './rules-service.js';
import { toTRPCError } from './errors.js';

/** Who is calling. Until accounts land, the only callers are holders of a service key. */
export interface Caller {
  kind: 'service';
  id: string;
  scopes: readonly string[];
}

export interface Context {
  store: Store;
  rules: RulesService;
  /** Epoch ms: the one clock every procedure reads. */
  now: () => number;
  caller: Caller | null;
  config: { holdTtlMs: number };
  /** Observes money movements (metrics); optional. */
  observe?: (event: { op: string; ok: boolean; reason?: string; ms: number }) => void;
}

const t = initTRPC.context<Context>().create({
  // Stack traces go to the log, never to a client.
  isDev: false,
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    const reason =
      cause instanceof CreditsError ? cause.reason : cause instanceof ZodError ? 'VALIDATION' : null;
    return {
      ...shape,
      message:
        cause instanceof ZodError
          ? `Invalid input: ${cause.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`
          : shape.message,
      data: {
        ...shape.data,
        reason,
        details: cause instanceof CreditsError ? cause.details : null,
        zodError: cause instanceof ZodError ? z.flattenError(cause) : null,
      },
    };
  },
});

export const createTRPCRouter = t.router;
export const createCallerFactory = t.createCallerFactory;

/** Expected failures become tRPC errors with the reason's code. */
const reasons = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok) {
    const mapped = toTRPCError(result.error.cause);
    if (mapped instanceof TRPCError) throw mapped;
  }
  return result;
});

/** Open to anyone: health only. */
export const publicProcedure = t.procedure.use(reasons);

/** A caller holding a service key. */
export const serviceProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.caller) {
    throw new TRPCError({ code: 'UNAUTHORIZED', message: 'A bearer service key is required.', cause: new CreditsError('UNAUTHORIZED', 'A bearer service key is required.') });
  }
  return next({ ctx: { ...ctx, caller: ctx.caller } });
});

/** A caller whose key carries the admin scope. */
export const adminProcedure = serviceProcedure.use(({ ctx, next }) => {
  if (!ctx.caller.scopes.includes('admin')) {
    throw new TRPCError({ code: 'FORBIDDEN', message: 'Admin access is required.', cause: new CreditsError('FORBIDDEN', 'Admin access is required.') });
  }
  return next();
});
