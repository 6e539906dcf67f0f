/**
 * Builds the web console (console/) into dist/console, which `pgdts serve` serves at `/`
 * (src/control/api/console-static.ts). `npm run dev:console` serves it with hot reload and sends
 * the API paths to a `pgdts serve` on 127.0.0.1:8432 (PGDTS_SERVER overrides).
 */
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const server = process.env.PGDTS_SERVER ?? 'http://127.0.0.1:8432';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [react()],
  build: {
    outDir: '../dist/console',
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
  },
  server: {
    proxy: { '/api': server, '/healthz': server, '/openapi.json': server, '/metrics': server },
  },
});
