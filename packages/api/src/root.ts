import type { inferRouterInputs, inferRouterOutputs } from '@trpc/server';
import { createCallerFactory, createTRPCRouter } from './trpc.js';
import { healthRouter } from './routers/health.js';
import { walletsRouter } from './routers/wallets.js';
import { usageRouter } from './routers/usage.js';
import { adminRouter } from './routers/admin.js';
import { authRouter } from './routers/auth.js';
import { workspacesRouter } from './routers/workspaces.js';
import { billingRouter } from './routers/billing.js';
import { notificationsRouter } from './routers/notifications.js';
import { spendingRouter } from './routers/spending.js';
import { autoTopUpRouter } from './routers/auto-top-up.js';
import { invitationsRouter } from './routers/invitations.js';
import { receiptsRouter } from './routers/receipts.js';
import { plansRouter } from './routers/plans.js';

export const appRouter = createTRPCRouter({
  health: healthRouter,
  auth: authRouter,
  workspaces: workspacesRouter,
  wallets: walletsRouter,
  usage: usageRouter,
  billing: billingRouter,
  notifications: notificationsRouter,
  admin: adminRouter,
  spending: spendingRouter,
  autoTopUp: autoTopUpRouter,
  invitations: invitationsRouter,
  receipts: receiptsRouter,
  plans: plansRouter,
});

export type AppRouter = typeof appRouter;
export type RouterInputs = inferRouterInputs<AppRouter>;
export type RouterOutputs = inferRouterOutputs<AppRouter>;

/** Call procedures in-process (tests, CLI): `createCaller(ctx).wallets.list(...)`. */
export const createCaller = createCallerFactory(appRouter);
