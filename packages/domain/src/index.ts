export * from './wallets.js';
export * from './lots.js';
export * from './ledger.js';
export * from './errors.js';
export * from './plans.js';
export * from './cycle.js';
export * from './spend-controls.js';
