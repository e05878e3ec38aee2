/** The dashboard's build: `vite build web` writes web/dist, which `tl serve` serves at `/`. */
import { defineConfig } from 'vite';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', sourcemap: true, chunkSizeWarningLimit: 300 },
  // The dev server (`npx vite web`) forwards the API to a running `tl serve` on the default port.
  server: { proxy: { '/graphql': { target: 'http://127.0.0.1:4000', ws: true } } },
});
