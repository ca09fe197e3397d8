/**
 * The command line as a user starts it, whole process, from the built bundle (out/main/cli.js, what
 * `bin/camlabel.mjs` runs after `npm run build` and what the installed app's launcher runs):
 * - `camlabel --help` beside `node -e ''` (Node's own start-up), target under 150 ms;
 * - `camlabel status` of a 100 000-image project (generated as the store bench does: proposals,
 *   a quarter reviewed) beside the same baseline, target under 0.5 s.
 * Runs interleaved, medians quoted. Run: `npm run bench -- cli`.
 */
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ProjectStore } from '../src/main/store/projectStore.ts'
import { synthesise } from './store.bench.ts'

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const cli = path.join(repo, 'out/main/cli.js')

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** Wall milliseconds of each command, run in turn `runs` times after one warm-up each. */
function interleaved(commands: string[][], runs: number): number[][] {
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

export async function run(): Promise<void> {
  // The bundle as `npm run build` makes it (without the type check, which is CI's).
  const build = spawnSync('npx', ['electron-vite', 'build'], { cwd: repo, encoding: 'utf8' })
  if (build.status !== 0) throw new Error(`electron-vite build failed: ${build.stderr}`)
  const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-cli-bench-'))
  try {
    const root = path.join(tmp, 'images')
    mkdirSync(root)
    const file = path.join(tmp, 'big.camlabel')
    const big = ProjectStore.create(file, root)
    synthesise(big, 100_000)
    big.close()
    const node = process.execPath
    const [help, status, bare] = interleaved(
      [
        [node, cli, '--help'],
        [node, cli, 'status', file],
        [node, '-e', ''],
      ],
      7,
    ).map(median)
    console.log('\ncli: whole process from the bundle, median of 7 (interleaved)')
    console.log(
      `  node -e ''                       ${bare!.toFixed(0).padStart(6)} ms   (baseline)`,
    )
    console.log(
      `  camlabel --help                  ${help!.toFixed(0).padStart(6)} ms   ${(help! / bare!).toFixed(2)}× baseline (target < 150 ms)`,
    )
    console.log(
      `  camlabel status (100 000 images) ${status!.toFixed(0).padStart(6)} ms   ${(status! / bare!).toFixed(2)}× baseline (target < 500 ms)`,
    )
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}
