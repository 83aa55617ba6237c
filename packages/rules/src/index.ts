export * from './job.js';
export * from './types.js';
