import { defineProject } from 'vitest/config';
import vue from '@vitejs/plugin-vue';

/**
 * Component specs run in happy-dom; the browser tests in e2e/ declare the node environment
 * themselves and drive Debian's Chromium against the real server.
 */
export default defineProject({
  plugins: [vue()],
  test: {
    name: 'web',
    environment: 'happy-dom',
    include: ['src/**/*.{spec,test}.ts', 'e2e/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
  },
});
