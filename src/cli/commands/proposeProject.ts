/**
 * `camlabel propose PROJECT [--model …] [--threshold …]`: the project form of propose. Resumable:
 * images this model revision already processed are skipped, results are persisted image by image;
 * with --threshold, those processed at another threshold are recomputed from their stored CAMs.
 */
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'
import { proposeProject } from '../../main/project/proposeProject.ts'
import { describeReviewModel } from '../../main/project/reviewLearning.ts'
import { openShard, parseShard, shardFile } from '../../main/project/shards.ts'
import { ProjectStore } from '../../main/store/projectStore.ts'
import type { CommandIO } from '../io.ts'
import { cliReport } from '../progress.ts'
import type { ProposeSettings } from '../proposeOptions.ts'

/** Runs `camlabel propose PROJECT …`. */
export async function runProjectPropose(
  positionals: string[],
  settings: ProposeSettings,
  io: CommandIO,
  sharding: { shard?: string; out?: string } = {},
): Promise<number> {
  if (positionals.length !== 1)
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      'propose takes one PROJECT path (or --images/--labels/--out)',
    )
  const project = path.resolve(io.cwd, positionals[0])
  if (sharding.out !== undefined && sharding.shard === undefined)
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      '--out goes with --shard on a PROJECT (proposals are stored in the project itself)',
    )
  const shard = sharding.shard !== undefined ? parseShard(sharding.shard) : undefined
  const shardPath = shard
    ? path.resolve(io.cwd, sharding.out ?? shardFile(project, shard))
    : undefined
  const store = shard ? openShard(project, shardPath!, shard) : ProjectStore.open(project)
  const { mappings } = settings
  const abort = new AbortController()
  const onSignal = () => abort.abort()
  process.once('SIGINT', onSignal)
  const started = performance.now()
  const report = cliReport(io)
  try {
    const r = await proposeProject(store, {
      ...(settings.model ? { model: settings.model } : {}),
      // Only an explicit threshold re-thresholds images already processed (from stored CAMs).
      ...(settings.threshold !== undefined ? { threshold: settings.threshold } : {}),
      ...(settings.workingSize !== undefined ? { workingSize: settings.workingSize } : {}),
      // Not given: the project's upscale setting (see projectUpscale).
      ...(settings.upscale ? { upscale: settings.upscale } : {}),
      head: settings.head,
      providers: settings.providers,
      ...(mappings.size ? { mappings } : {}),
      ...(settings.fromReview ? { fromReview: settings.fromReview } : {}),
      ...(shard ? { shard } : {}),
      signal: abort.signal,
      report,
    })
    report.finish()
    for (const e of store.runs.errors(r.model).slice(0, 20))
      io.stderr(`error: ${e.file}: ${e.error}\n`)
    const s = (performance.now() - started) / 1000
    if (mappings.size) io.stderr(`saved the mapping of: ${[...mappings.keys()].join(', ')}\n`)
    if (r.resourced > 0)
      io.stderr(`re-proposed ${r.resourced} images for labels whose CAM source changed\n`)
    if (r.reproposed > 0)
      io.stderr(
        `re-proposed ${r.reproposed} images processed with another upscale mode or working size\n`,
      )
    if (r.recomputed > 0)
      io.stderr(`recomputed ${r.recomputed} images from stored CAMs (no inference)\n`)
    if (r.review?.model)
      io.stderr(
        `${describeReviewModel(r.review.model)}${r.review.updated ? '' : ' (up to date)'} — proposals for ${r.fromReviewImages} images made with it\n`,
      )
    else if (r.review?.reason) io.stderr(`learning from reviews: ${r.review.reason}\n`)
    else if (!r.review && r.relearned > 0)
      io.stderr(`learning from reviews is off: ${r.relearned} images back to plain CAM proposals\n`)
    io.stderr(
      `${r.done} images processed (${r.failed} failed), ${r.proposals} proposals in ${s.toFixed(1)} s; ` +
        `${r.alreadyDone} already done, ${r.unlabelled} without labels${r.cancelled ? '; cancelled — run again to resume' : ''}\n`,
    )
    if (shard)
      io.stderr(
        `shard ${shard.index}/${shard.count} is in ${shardPath}; once every shard is done: camlabel merge ${positionals[0]} SHARDS…\n`,
      )
    return r.cancelled ? 130 : r.done > 0 && r.failed === r.done ? 1 : 0
  } finally {
    report.finish()
    process.off('SIGINT', onSignal)
    store.close()
  }
}
