import { initTRPC, TRPCError } from '@trpc/server';
import { ZodError, z } from 'zod';
import { CreditsError, type Reason, type WalletKind } from '@credits/domain';
import type { Order, Role, Store } from '@credits/store';
import type { RulesService } from './rules-service.js';
import type { CycleService } from './cycle.js';
import type { WorkspaceCache } from './workspace-cache.js';
import type { RateLimiter } from './auth/rate-limit.js';
import { toTRPCError, REASON_CODES } from './errors.js';
import { workspaceIdSchema } from './schemas.js';

/** API key scopes. */
export const SCOPES = ['wallets:read', 'usage:write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

/** Who is calling: resolved once per request by the server's auth middleware. */
export type Caller =
  | {
      kind: 'user';
      id: string;
      userId: string;
      email: string;
      isAdmin: boolean;
      sessionTokenHash: string | null;
    }
  | {
      kind: 'workspace_key';
      id: string;
      keyId: string;
      workspaceId: string;
      scopes: readonly string[];
    }
  | { kind: 'service'; id: string; keyId?: string; scopes: readonly string[] };

/** Creates a provider checkout session for a pending order. */
export interface PaymentGateway {
  readonly provider: string;
  createSession(input: {
    order: Order;
    returnUrl: string;
    /** What the provider's page calls the item (a plan order's plan); absent: the pack's credits. */
    itemName?: string;
  }): Promise<{ session: string; url: string }>;
  /** A provider page where an owner saves a payment method for auto top-up (when supported). */
  createSetupSession?(input: {
    workspaceId: string;
    createdBy: string;
    returnUrl: string;
  }): Promise<{ session: string; url: string }>;
}

/** What the HTTP layer lets procedures do to the response. */
export interface HttpContext {
  setSession(token: string, expiresAt: number): void;
  clearSession(): void;
  clientIp: string;
  /** The request's User-Agent (shown in the sessions list). */
  userAgent?: string;
}

export interface Context {
  store: Store;
  rules: RulesService;
  /** The AI Token cycle keeper (one per server: it remembers cycles it has seen granted). */
  cycles: CycleService;
  /** Workspaces as pricing reads them, kept a second (one per server). */
  workspaces: WorkspaceCache;
  /** Epoch ms: the one clock every procedure reads. */
  now: () => number;
  caller: Caller | null;
  /**
   * The caller's role in the workspace a workspace procedure acts on (set by that
   * procedure; null for API keys and admins). Contexts may start with null.
   */
  role?: Role | null;
  config: { holdTtlMs: number };
  http?: HttpContext;
  /** Rate limits and lockouts shared across processes (the server's store); none when absent. */
  limiter?: RateLimiter;
  /** The payment provider checkout uses (sandbox or Stripe), set by the server. */
  payments?: PaymentGateway;
  /** Observes money movements (metrics); optional. */
  observe?: (event: { op: string; ok: boolean; reason?: string; ms: number }) => void;
  /**
   * Told after each reserve or charge that committed (not awaited; must not throw): the
   * server's auto top-up trigger decides from it whether the balance crossed a threshold.
   */
  afterSpend?: (event: SpendEvent) => void;
}

/** A committed reserve or charge: what it took, and the wallet's available balance after. */
export interface SpendEvent {
  workspaceId: string;
  wallet: WalletKind;
  /** The hold's or the job's id: names the crossing it may have made. */
  jobId: string;
  credits: number;
  balance: number;
}

/** Every procedure declares who may call it; a test fails on any that does not. */
export type Access =
  | 'public'
  | 'user'
  | 'workspace:read'
  | 'workspace:use'
  | 'workspace:owner'
  | 'workspace:service'
  | 'admin';
export interface Meta {
  access: Access;
}

const t = initTRPC
  .context<Context>()
  .meta<Meta>()
  .create({
    // Stack traces go to the log, never to a client.
    isDev: false,
    errorFormatter({ shape, error }) {
      const cause = error.cause;
      const reason =
        cause instanceof CreditsError
          ? cause.reason
          : cause instanceof ZodError
            ? 'VALIDATION'
            : null;
      return {
        ...shape,
        message:
          cause instanceof ZodError
            ? `Invalid input: ${cause.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`
            : error.code === 'INTERNAL_SERVER_ERROR'
              ? 'An internal error occurred. Retrying with the same idempotency key is safe.'
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

function refuse(reason: Reason, message: string): never {
  throw new TRPCError({
    code: REASON_CODES[reason],
    message,
    cause: new CreditsError(reason, message),
  });
}

/** Expected failures become tRPC errors with the reason's code. */
const reasons = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok) {
    const mapped = toTRPCError(result.error.cause);
    if (mapped instanceof TRPCError) throw mapped;
  }
  return result;
});

const base = t.procedure.use(reasons);

/** Open to anyone (health, sign-up, sign-in). */
export const publicProcedure = base.meta({ access: 'public' });

const authed = base.use(({ ctx, next }) => {
  if (!ctx.caller) refuse('UNAUTHORIZED', 'Sign in, or send a bearer API key.');
  return next({ ctx: { caller: ctx.caller } });
});

/** A signed-in person (session cookie). */
export const userProcedure = authed.meta({ access: 'user' }).use(({ ctx, next }) => {
  if (ctx.caller.kind !== 'user') refuse('FORBIDDEN', 'This needs a signed-in user.');
  return next({ ctx: { user: ctx.caller } });
});

function isAdmin(caller: Caller): boolean {
  return caller.kind === 'user'
    ? caller.isAdmin
    : caller.kind === 'service' && caller.scopes.includes('admin');
}

/** A platform admin: an admin user, or a service key with the `admin` scope. */
export const adminProcedure = authed.meta({ access: 'admin' }).use(({ ctx, next }) => {
  if (!isAdmin(ctx.caller)) refuse('FORBIDDEN', 'Admin access is required.');
  return next();
});

type Need = 'read' | 'use' | 'owner';

/**
 * May this caller act on this workspace? Members read and use; owners also buy and manage
 * keys; a workspace key acts on its own workspace within its scopes; a service key acts on
 * any workspace within its scopes; admins may do anything.
 */
export async function mayAccess(
  ctx: { store: Store },
  caller: Caller,
  workspaceId: string,
  need: Need,
): Promise<{ ok: boolean; role: Role | null }> {
  const known = accessWithoutStore(caller, workspaceId, need);
  if (known) return known;
  const userId = (caller as Extract<Caller, { kind: 'user' }>).userId;
  const role = await ctx.store.accounts.role({ workspaceId, userId });
  return { ok: role !== null && (need !== 'owner' || role === 'owner'), role };
}

/**
 * {@link mayAccess}'s answer when it needs no store read: admins, API keys and the service
 * key (their scopes say it all). Null for a signed-in user who is not an admin: the answer is
 * their role in the workspace.
 */
function accessWithoutStore(
  caller: Caller,
  workspaceId: string,
  need: Need,
): { ok: boolean; role: Role | null } | null {
  if (isAdmin(caller)) return { ok: true, role: null };
  const scoped = (scopes: readonly string[]) =>
    need === 'read'
      ? scopes.includes('wallets:read') || scopes.includes('usage:write')
      : need === 'use' && scopes.includes('usage:write');
  switch (caller.kind) {
    case 'user':
      return null;
    case 'workspace_key':
      return { ok: caller.workspaceId === workspaceId && scoped(caller.scopes), role: null };
    case 'service':
      return { ok: scoped(caller.scopes), role: null };
  }
}

/**
 * A procedure on one workspace: the caller's right to `input.workspaceId` is checked before
 * the resolver runs, so a refused call reads and writes nothing.
 */
export function workspaceProcedure(need: Need) {
  // One middleware for sign-in, the workspace id, access and the reasons' codes (each tRPC
  // middleware level copies the call's options, and passing a context copies the whole
  // context: on the spend path that is most of tRPC's cost). So it does `reasons`' work
  // itself instead of stacking on `base`, and passes a context only when it changes one.
  // The procedure's own input schema, run after this, validates the whole input again.
  return t.procedure
    .meta({ access: `workspace:${need}` })
    .use(async ({ ctx, getRawInput, next }) => {
      let narrowed: { caller: Caller; role: Role | null };
      try {
        if (!ctx.caller) refuse('UNAUTHORIZED', 'Sign in, or send a bearer API key.');
        const parsed = workspaceInput.safeParse(await getRawInput());
        if (!parsed.success)
          throw new TRPCError({
            code: 'BAD_REQUEST',
            message: 'Invalid input',
            cause: parsed.error,
          });
        const workspaceId = parsed.data.workspaceId;
        // Keys and admins are answered without an await; a user's role is read.
        const { ok, role } =
          accessWithoutStore(ctx.caller, workspaceId, need) ??
          (await mayAccess(ctx, ctx.caller, workspaceId, need));
        if (!ok) refuse('FORBIDDEN', 'You do not have access to this workspace.');
        narrowed = { caller: ctx.caller, role };
      } catch (e) {
        // What `reasons` does to a refusal here: a CreditsError (the store's) gets its code.
        throw toTRPCError(e);
      }
      // The context already names this caller and role (API keys: role null): tRPC then
      // keeps it as it is instead of copying it, and the types say what it holds.
      const result =
        ctx.role === narrowed.role
          ? await next({} as { ctx: typeof narrowed })
          : await next({ ctx: narrowed });
      if (!result.ok) {
        const error = toTRPCError(result.error.cause);
        if (error instanceof TRPCError) throw error;
      }
      return result;
    });
}

/** What every workspace procedure's input has (the rest is the procedure's own schema). */
const workspaceInput = z.object({ workspaceId: workspaceIdSchema });

/**
 * A procedure on one workspace for the platform's own services: platform admins, and service
 * keys with `usage:write` (refunds of finished jobs, SPEC 15). Members, owners and workspace
 * keys are refused.
 */
export const serviceWorkspaceProcedure = base
  .meta({ access: 'workspace:service' })
  .use(async ({ ctx, getRawInput, next }) => {
    if (!ctx.caller) refuse('UNAUTHORIZED', 'Sign in, or send a bearer API key.');
    const parsed = workspaceInput.safeParse(await getRawInput());
    if (!parsed.success)
      throw new TRPCError({ code: 'BAD_REQUEST', message: 'Invalid input', cause: parsed.error });
    const caller = ctx.caller;
    const ok =
      isAdmin(caller) || (caller.kind === 'service' && caller.scopes.includes('usage:write'));
    if (!ok)
      refuse('FORBIDDEN', 'Only platform admins and service keys with usage:write may do this.');
    return next({ ctx: { caller, role: null } });
  });
