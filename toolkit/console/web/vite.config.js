// The console's front end: built into chartkit's cache by toolkit/localenv/web.py (npm ci + npm run build);
// toolkit/console serves dist/. Nothing is fetched from a CDN at run time.
import { defineConfig } from 'vite';

export default defineConfig({
  base: '/',
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
    // no inline <script> or modulepreload polyfill: the console's Content-Security-Policy allows 'self' only
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    rolldownOptions: {
      // rjsf marks some modules 'use client' (a React Server Components hint): meaningless in a browser bundle
      onwarn(warning, warn) {
        if (warning.code !== 'MODULE_LEVEL_DIRECTIVE') warn(warning);
      },
    },
  },
});
