/**
 * `camlabel propose PROJECT [--model …] [--threshold …]`: the project form of propose. Resumable:
 * images this model revision already processed are skipped, results are persisted image by image;
 * with --threshold, those processed at another threshold are recomputed from their stored CAMs.
 */
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'
import type { HeadMode } from '../../main/engine/labels.ts'
import type { UpscaleMode } from '../../main/engine/propose.ts'
import type { ProviderChoice } from '../../main/engine/session.ts'
import { proposeProject } from '../../main/project/proposeProject.ts'
import { ProjectStore } from '../../main/store/projectStore.ts'
import { numberOption, parseCommandArgs } from '../args.ts'
import type { CommandIO } from '../io.ts'
import { progressLine } from '../progress.ts'

const oneOf = <T extends string>(
  v: string | undefined,
  allowed: readonly T[],
  name: string,
  fallback: T,
): T => {
  if (v === undefined) return fallback
  if ((allowed as readonly string[]).includes(v)) return v as T
  throw new CamlabelError(
    'INVALID_ARGUMENT',
    `--${name} must be one of ${allowed.join(', ')}, got '${v}'`,
  )
}

/** Runs `camlabel propose PROJECT …`. */
export async function runProjectPropose(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      model: { type: 'string' },
      threshold: { type: 'string' },
      upscale: { type: 'string' },
      head: { type: 'string' },
      'working-size': { type: 'string' },
      provider: { type: 'string' },
    },
    'propose',
  )
  if (positionals.length !== 1)
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      'propose takes one PROJECT path (or --images/--labels/--out)',
    )
  const store = ProjectStore.open(path.resolve(io.cwd, positionals[0]))
  const progress = progressLine(io, 'propose')
  const abort = new AbortController()
  const onSignal = () => abort.abort()
  process.once('SIGINT', onSignal)
  const started = performance.now()
  try {
    const model = values.model?.endsWith('.onnx')
      ? path.resolve(io.cwd, values.model)
      : values.model
    const r = await proposeProject(
      store,
      {
        model,
        // Only an explicit threshold re-thresholds images already processed (from stored CAMs).
        threshold:
          values.threshold === undefined
            ? undefined
            : numberOption(values.threshold, 'threshold', 0.2, [0.01, 0.99]),
        workingSize: values['working-size']
          ? numberOption(values['working-size'], 'working-size', 512, [16, 8192])
          : undefined,
        upscale: oneOf<UpscaleMode>(values.upscale, ['bilinear', 'guided'], 'upscale', 'bilinear'),
        head: oneOf<HeadMode>(values.head, ['auto', 'model', 'learn', 'agnostic'], 'head', 'auto'),
        providers: oneOf<ProviderChoice>(
          values.provider,
          ['auto', 'cpu', 'cuda', 'dml', 'coreml'] as ProviderChoice[],
          'provider',
          'auto' as ProviderChoice,
        ),
        onReady: (info) =>
          io.stderr(
            `model ${info.modelId} on ${info.provider}${info.providerNote ? ` (${info.providerNote})` : ''}\n`,
          ),
      },
      (p) => progress.update(p.done, p.total, p.failed),
      abort.signal,
    )
    progress.finish()
    for (const e of store.runErrors(r.model).slice(0, 20))
      io.stderr(`error: ${e.file}: ${e.error}\n`)
    const s = (performance.now() - started) / 1000
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
