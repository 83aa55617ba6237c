import { defineConfig } from 'vitest/config';

/**
 * One project per package. Node packages inherit the timeouts below (`extends: true`): a
 * shared 2-core machine makes money-path concurrency tests slower than vitest's 5 s default.
 * The web app has its own vitest.config.ts (Vue plugin, happy-dom, browser tests).
 */
const nodeProjects = [
  ['@credits/domain', 'packages/domain'],
  ['@credits/rules', 'packages/rules'],
  ['@credits/store', 'packages/store'],
  ['@credits/api', 'packages/api'],
  ['@credits/client', 'packages/client'],
  ['@credits/server', 'apps/server'],
] as const;

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      ...nodeProjects.map(([name, root]) => ({ extends: true as const, test: { name, root } })),
      'apps/web',
    ],
  },
});
