import { resolve } from 'node:path'
import { defineConfig } from 'electron-vite'
import vue from '@vitejs/plugin-vue'

// Native and heavy runtime dependencies stay real `require`s resolved from node_modules at run time.
const external = ['onnxruntime-node', 'sharp', 'better-sqlite3', 'electron', 'yaml']

export default defineConfig({
  main: {
    build: {
      rollupOptions: {
        external,
        input: {
          index: resolve('src/main/index.ts'),
          inferenceWorker: resolve('src/main/jobs/inferenceWorker.ts'),
          imageWorker: resolve('src/main/jobs/imageWorker.ts'),
          // The camlabel command, built with the app (bin/camlabel.mjs and the installed launcher run it).
          cli: resolve('src/cli/index.ts'),
        },
      },
    },
  },
  preload: {
    build: {
      rollupOptions: {
        external,
        input: { index: resolve('src/preload/index.ts') },
        // A sandboxed preload must be CommonJS.
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  renderer: {
    root: 'src/renderer',
    resolve: { alias: { '@renderer': resolve('src/renderer/src') } },
    build: { rollupOptions: { input: { index: resolve('src/renderer/index.html') } } },
    plugins: [vue()],
  },
})
