/**
 * What the benchmarks share: the median they quote, whole-process timing of commands run in turn
 * (so a machine's drift hits each alike), and the bundle the command line runs from.
 */
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** The middle value (the upper middle of an even count). */
export function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** Wall milliseconds of each command, run in turn `runs` times after one warm-up round. */
export function interleaved(commands: string[][], runs: number): number[][] {
  const times = commands.map(() => [] as number[])
  for (let r = -1; r < runs; r++)
    commands.forEach((argv, i) => {
      const t0 = performance.now()
      const out = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' })
      const ms = performance.now() - t0
      if (out.status !== 0) throw new Error(`${argv.join(' ')} failed: ${out.stderr}`)
      if (r >= 0) times[i]!.push(ms)
    })
  return times
}

/** Builds the bundle as `npm run build` makes it (without the type check, which is CI's). */
export function buildBundle(): void {
  const build = spawnSync('npx', ['electron-vite', 'build'], { cwd: repo, encoding: 'utf8' })
  if (build.status !== 0) throw new Error(`electron-vite build failed: ${build.stderr}`)
}
