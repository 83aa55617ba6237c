import { defineConfig } from 'vite';
import vue from '@vitejs/plugin-vue';

const api = process.env.CREDITS_API_URL ?? 'http://127.0.0.1:3000';

export default defineConfig({
  plugins: [vue()],
  server: {
    proxy: {
      '/trpc': { target: api, changeOrigin: false },
      '/checkout': { target: api, changeOrigin: false },
      '/export': { target: api, changeOrigin: false },
      '/receipts': { target: api, changeOrigin: false },
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 900,
  },
});
