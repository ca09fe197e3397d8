/** `camlabel merge PROJECT SHARD…`: folds shard files (propose --shard i/n) into the project. */
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'
import { mergeShards } from '../../main/project/shards.ts'
import { ProjectStore } from '../../main/store/projectStore.ts'
import { parseCommandArgs } from '../args.ts'
import type { Command, CommandIO } from '../io.ts'

const usage = `Usage: camlabel merge PROJECT SHARD...

Folds the proposals of shard files made by 'camlabel propose PROJECT --shard i/n' into PROJECT.
Safe to run again and in any order: a merged image's pending proposals are replaced, decisions
made in PROJECT meanwhile are kept. A shard given twice is merged once; a missing one is named
(its images keep what they had) and the exit code is 1. See docs/SHARDING.md.`

async function run(argv: string[], io: CommandIO): Promise<number> {
  const { positionals } = parseCommandArgs(argv, {}, 'merge')
  if (positionals.length < 2)
    throw new CamlabelError('INVALID_ARGUMENT', 'merge takes a PROJECT and its SHARD files', usage)
  const [project, ...shards] = positionals.map((p) => path.resolve(io.cwd, p))
  const store = ProjectStore.open(project!)
  try {
    const r = mergeShards(store, shards)
    for (const m of r.merged)
      io.stderr(`merged shard ${m.shard.index}/${m.shard.count}: ${m.images} images (${m.file})\n`)
    for (const m of r.repeated)
      io.stderr(`shard ${m.shard.index}/${m.shard.count} given again in ${m.file}: merged once\n`)
    if (r.missing.length) {
      io.stderr(
        `missing: shard${r.missing.length === 1 ? '' : 's'} ${r.missing.map((i) => `${i}/${r.count}`).join(', ')} — their images keep what they had; run 'camlabel propose ${path.basename(project!)} --shard i/${r.count}' for each and merge again\n`,
      )
      return 1
    }
    return 0
  } finally {
    store.close()
  }
}

export const command: Command = { usage, run }
