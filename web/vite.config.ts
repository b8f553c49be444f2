import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

// The dashboard's build: Preact's JSX through Vite's own transform (no plugin), relative asset
// paths so the same build works on `payrail dashboard` and under the gateway at `/`, and no
// inline script or style in the output, since both serve it with a CSP that forbids them.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    target: 'es2022',
  },
})
