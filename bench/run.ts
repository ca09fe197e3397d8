/**
 * `npm run bench`: runs every benchmark; each prints its figure beside a baseline measured in the
 * same run, since absolute times on shared machines are noise.
 */
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const here = path.dirname(fileURLToPath(import.meta.url))
const only = process.argv.slice(2)
const files = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
for (const file of files) {
  const mod = (await import(path.join(here, file))) as { run?: () => Promise<void> }
  if (typeof mod.run !== 'function') throw new Error(`${file} exports no run()`)
  await mod.run()
}
