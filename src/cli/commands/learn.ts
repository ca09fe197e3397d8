/**
 * `camlabel learn PROJECT`: learns a CAM head for the project's labels from its image labels (CAM
 * paper, section 3.3). Extracts the pooled features the project does not have yet (resumable,
 * cached in the project), trains a linear head on them, stores it and prints its quality: cross-
 * validated accuracy per class, image counts, and warnings (too few images, a single class).
 * `camlabel propose PROJECT` then uses the stored head without retraining.
 */
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'
import { formatHeadQuality } from '../../main/engine/head.ts'
import { learnProjectHead } from '../../main/project/learnProject.ts'
import { ProjectStore } from '../../main/store/projectStore.ts'
import { choiceOption, numberOption, parseCommandArgs } from '../args.ts'
import type { Command, CommandIO } from '../io.ts'
import { cliReport } from '../progress.ts'
import { modelOption, PROVIDERS } from '../proposeOptions.ts'

const usage = `Usage: camlabel learn PROJECT [--model ID|PATH] [--lambda L] [--provider P] [--force]

Learns a CAM head for the project's labels from its image labels: the pooled features of every
image are extracted once per model (cached in the project; an interrupted pass resumes), a linear
classifier is trained on them, and its quality is printed: cross-validated accuracy per class and
warnings. 'camlabel propose PROJECT' uses the stored head for the labels the model does not know
(or those mapped with --map LABEL=learn). Add images of other content with the label 'background'
as negatives when the project has a single class.

  --model ID|PATH   the backbone (default: the default model)
  --lambda L        L2 regularisation strength (default 0.01)
  --provider P      auto | cpu | cuda | dml | coreml (default auto)
  --force           retrain even when images and labels did not change`

async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      model: { type: 'string' },
      lambda: { type: 'string' },
      provider: { type: 'string' },
      force: { type: 'boolean' },
    },
    'learn',
  )
  if (positionals.length !== 1)
    throw new CamlabelError('INVALID_ARGUMENT', 'learn takes one PROJECT path', usage)
  const model = values.model === undefined ? undefined : modelOption(values.model, io.cwd)
  const lambda = numberOption(values.lambda, 'lambda', 0.01, [1e-8, 1e4])
  const providers = choiceOption(values.provider, PROVIDERS, 'provider', 'auto')
  const store = ProjectStore.open(path.resolve(io.cwd, positionals[0]))
  const report = cliReport(io)
  const abort = new AbortController()
  const onSignal = (): void => abort.abort()
  process.once('SIGINT', onSignal)
  try {
    const r = await learnProjectHead(store, {
      ...(model ? { model } : {}),
      lambda,
      providers,
      force: values.force ?? false,
      signal: abort.signal,
      report,
    })
    report.finish()
    const f = r.features
    if (f) {
      io.stderr(
        f.total === 0
          ? `features: all ${f.cached} images cached (no feature pass)\n`
          : `features: ${f.extracted} extracted, ${f.failed} failed, ${f.cached} cached before\n`,
      )
      for (const e of f.errors.slice(0, 20)) io.stderr(`error: ${e.file}: ${e.error}\n`)
      if (f.cancelled) {
        io.stderr('cancelled — run again to resume the feature pass\n')
        return 130
      }
    }
    if (r.head) {
      io.stdout(formatHeadQuality(r.head).join('\n') + '\n')
      io.stderr(
        r.trained
          ? `trained in ${(r.trainMs ?? 0).toFixed(0)} ms (with the cross-validation); stored in ${store.file}\n`
          : 'the stored head is current (same images and labels); --force retrains it\n',
      )
    }
    if (r.warning) io.stdout(`warning: ${r.warning}\n`)
    return r.head ? 0 : 1
  } finally {
    report.finish()
    process.off('SIGINT', onSignal)
    store.close()
  }
}

export const command: Command = {
  usage,
  run,
}
