export {
  appRouter,
  createCaller,
  type AppRouter,
  type RouterInputs,
  type RouterOutputs,
} from './root.js';
export {
  SCOPES,
  mayAccess,
  type PaymentGateway,
  type Access,
  type Caller,
  type Context,
  type HttpContext,
  type Meta,
  type Scope,
  type SpendEvent,
} from './trpc.js';
export { hashPassword, verifyPassword } from './auth/password.js';
export { newApiKey, sha256, SESSION_TTL_MS } from './auth/tokens.js';
export {
  LIMITS,
  LOCKOUT,
  storeRateLimiter,
  type LimitName,
  type RateLimiter,
} from './auth/rate-limit.js';
export {
  CSV_MAX_ROWS,
  HISTORY_CSV_COLUMNS,
  historyCsvStream,
  historyFilter,
  type HistoryFilter,
} from './history-csv.js';
export { actorFilter, type GroupBy, type SpendGroup } from './who-spent.js';
export { issuePasswordReset, PASSWORD_RESET_TTL_MS } from './auth/password-reset.js';
export { assertStrongPassword, MIN_PASSWORD_SCORE } from './auth/password-strength.js';
export { provisionWorkspace } from './provision.js';
export { RulesService } from './rules-service.js';
export { REASON_CODES } from './errors.js';
export { requestHash } from './request-hash.js';
export type { WalletView } from './wallet-view.js';
export { CycleService, type Cycle, type CyclePreview, type CycleState } from './cycle.js';
export { WorkspaceCache, loadWorkspace } from './workspace-cache.js';
export { workspaceServices } from './services.js';
export { isPublicAddress, isPublicWebhookUrl, normalizeHost } from './webhook-url.js';
export { buildReceipt, type Receipt } from './routers/receipts.js';
export { planAction, planItemName, type PlanAction } from './routers/plans.js';
