/**
 * `camlabel propose PROJECT [--model …] [--threshold …]`: the project form of propose. Resumable:
 * images this model revision already processed are skipped, results are persisted image by image;
 * with --threshold, those processed at another threshold are recomputed from their stored CAMs.
 */
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'
import { proposeProject } from '../../main/project/proposeProject.ts'
import { ProjectStore } from '../../main/store/projectStore.ts'
import type { CommandIO } from '../io.ts'
import { reportProjectHead } from '../learnHead.ts'
import { progressLine } from '../progress.ts'
import { readyLine, type ProposeSettings } from '../proposeOptions.ts'

/** Runs `camlabel propose PROJECT …`. */
export async function runProjectPropose(
  positionals: string[],
  settings: ProposeSettings,
  io: CommandIO,
): Promise<number> {
  if (positionals.length !== 1)
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      'propose takes one PROJECT path (or --images/--labels/--out)',
    )
  const store = ProjectStore.open(path.resolve(io.cwd, positionals[0]))
  let progress = progressLine(io, 'propose')
  let features = progressLine(io, 'features')
  let recompute: ReturnType<typeof progressLine> | undefined
  const { mappings } = settings
  const abort = new AbortController()
  const onSignal = () => abort.abort()
  process.once('SIGINT', onSignal)
  const started = performance.now()
  try {
    const r = await proposeProject(
      store,
      {
        model: settings.model,
        // Only an explicit threshold re-thresholds images already processed (from stored CAMs).
        threshold: settings.threshold,
        workingSize: settings.workingSize,
        // Undefined (not given): the project's upscale setting (see projectUpscale).
        upscale: settings.upscale,
        head: settings.head,
        providers: settings.providers,
        ...(mappings.size ? { mappings } : {}),
        onReady: (info) => io.stderr(readyLine(info)),
        onFeatureProgress: (p) => features.update(p.done, p.total, p.failed),
        onLearned: (learn, labels) => {
          features.finish()
          features = progressLine(io, 'features')
          io.stderr(`learned CAM head for: ${labels.join(', ')}\n`)
          reportProjectHead(learn, io)
          progress = progressLine(io, 'propose') // the rate and ETA of proposing alone
        },
      },
      (p) => {
        if (p.stage !== 'recompute') return progress.update(p.done, p.total, p.failed)
        recompute ??= progressLine(io, 'recompute')
        recompute.update(p.done, p.total, p.failed)
        if (p.done === p.total) {
          recompute.finish()
          progress = progressLine(io, 'propose') // the rate and ETA of proposing alone
        }
      },
      abort.signal,
    )
    progress.finish()
    for (const e of store.runErrors(r.model).slice(0, 20))
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
    io.stderr(
      `${r.done} images processed (${r.failed} failed), ${r.proposals} proposals in ${s.toFixed(1)} s; ` +
        `${r.alreadyDone} already done, ${r.unlabelled} without labels${r.cancelled ? '; cancelled — run again to resume' : ''}\n`,
    )
    return r.cancelled ? 130 : r.done > 0 && r.failed === r.done ? 1 : 0
  } finally {
    process.off('SIGINT', onSignal)
    store.close()
  }
}
