#!/usr/bin/env node
// `npm start`: builds the app and starts it on Electron (electron-vite preview). Without the
// Electron binary (an install with ELECTRON_SKIP_BINARY_DOWNLOAD=1, or a download that failed)
// it says so and what to do, instead of Electron's "failed to install correctly".
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'

function electronBinary() {
  try {
    const file = createRequire(import.meta.url)('electron')
    return typeof file === 'string' && existsSync(file) ? file : null
  } catch {
    return null
  }
}

if (!electronBinary()) {
  const [major, minor] = process.versions.node.split('.').map(Number)
  const oldNode = major < 22 || (major === 22 && minor < 12)
  console.error(
    [
      'camlabel: the app cannot start: the Electron binary is not installed.',
      '  npm install skips it when ELECTRON_SKIP_BINARY_DOWNLOAD=1 is set, or when the download fails.',
      '',
      'To start the app:',
      ...(oldNode
        ? [
            `  - use Node 22.12 or later (this is Node ${process.versions.node}, too old for Electron 41), then`,
          ]
        : []),
      '  - fetch Electron (from github.com, with ELECTRON_SKIP_BINARY_DOWNLOAD unset):',
      '      node node_modules/electron/install.js',
      '    then npm start again;',
      '  - or install the packaged app (no Node needed): README.md, "Install the app".',
      '',
      'The command line needs no Electron:  npx camlabel --help',
    ].join('\n'),
  )
  process.exit(1)
}

const bin = fileURLToPath(
  new URL('../node_modules/electron-vite/bin/electron-vite.js', import.meta.url),
)
const run = spawnSync(process.execPath, [bin, 'preview', ...process.argv.slice(2)], {
  stdio: 'inherit',
})
process.exit(run.status ?? 1)
