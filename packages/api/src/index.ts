export { appRouter, createCaller, type AppRouter, type RouterInputs, type RouterOutputs } from './root.js';
export type { Caller, Context } from './trpc.js';
export { RulesService } from './rules-service.js';
export { REASON_CODES } from './errors.js';
export { requestHash } from './request-hash.js';
export type { WalletView } from './wallet-view.js';
