#!/usr/bin/env node
// The camlabel command of a checkout. It runs the built bundle (out/main/cli.js, the code the
// installed app ships) when it is newer than every source file, else the TypeScript sources
// through tsx (before `npm run build`, or after an edit). CAMLABEL_FROM_SOURCES=1 always runs
// the sources.
import { existsSync, readdirSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const bundle = fileURLToPath(new URL('../out/main/cli.js', import.meta.url))
const sources = fileURLToPath(new URL('../src', import.meta.url))

function newestSource(dir) {
  let newest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = `${dir}/${entry.name}`
    const t = entry.isDirectory() ? newestSource(file) : statSync(file).mtimeMs
    if (t > newest) newest = t
  }
  return newest
}

const useBundle =
  process.env.CAMLABEL_FROM_SOURCES !== '1' &&
  existsSync(bundle) &&
  (!existsSync(sources) || statSync(bundle).mtimeMs >= newestSource(sources))

if (useBundle) {
  await import(new URL('../out/main/cli.js', import.meta.url).href)
} else {
  const { register } = await import('tsx/esm/api')
  register()
  const { main } = await import('../src/cli/main.ts')
  process.exitCode = await main(process.argv.slice(2))
}
