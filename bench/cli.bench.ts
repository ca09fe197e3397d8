/**
 * The command line as a user starts it, whole process, from the built bundle (out/main/cli.js, what
 * `bin/camlabel.mjs` runs after `npm run build` and what the installed app's launcher runs):
 * - `camlabel --help` beside `node -e ''` (Node's own start-up), target under 150 ms;
 * - `camlabel status` of a 100 000-image project (generated as the store bench does: proposals,
 *   a quarter reviewed) beside the same baseline, target under 0.5 s.
 * Runs interleaved, medians quoted. Run: `npm run bench -- cli`.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ProjectStore } from '../src/main/store/projectStore.ts'
import { synthesise } from './store.bench.ts'
import { buildBundle, interleaved, median, repo } from './timing.ts'

const cli = path.join(repo, 'out/main/cli.js')

export async function run(): Promise<void> {
  buildBundle()
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
