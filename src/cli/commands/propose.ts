/**
 * `camlabel propose`: boxes for the labels of each image, from Class Activation Maps.
 *
 * Both forms run the same path. `camlabel propose PROJECT` runs on a project file (resumable, see
 * proposeProject.ts in this folder). The folder form imports `--images` (with `--labels` or
 * folder-per-class) into a project that lives only in memory, runs the project's proposal run on
 * it, and writes the proposals as COCO: so the two forms give the same boxes by construction.
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { CamlabelError, toErrorData } from '../../shared/errors.ts'
import { toCoco } from '../../main/formats/coco.ts'
import { checkOutput, writeFileAtomic, type AtomicOptions } from '../../main/formats/atomicWrite.ts'
import { notAnExport } from '../../main/project/exportTarget.ts'
import { modelIdentity, modelName, type ModelIdentity } from '../../main/engine/modelIdentity.ts'
import { importProject, type ImportReport } from '../../main/project/importProject.ts'
import { proposable } from '../../main/project/labelPlan.ts'
import { proposeProject, type ProposeProjectResult } from '../../main/project/proposeProject.ts'
import { InferenceWorker } from '../../main/jobs/worker.ts'
import { ProjectStore } from '../../main/store/projectStore.ts'
import { parseCommandArgs } from '../args.ts'
import type { Command, CommandIO } from '../io.ts'
import { cliReport } from '../progress.ts'
import { PROPOSE_OPTIONS, readProposeSettings } from '../proposeOptions.ts'

const usage = `Usage: camlabel propose --images DIR [--labels FILE.csv] --out FILE.json [options]
       camlabel propose PROJECT [options]

Proposes bounding boxes for the labels of each image from Class Activation Maps.

  --images DIR        folder of images (recursive)
  --labels FILE.csv   header + file,label rows, paths relative to the CSV; several rows per file mean
                      several labels. Without it, sub-folders of --images are the labels.
                      Images labelled 'background' are negatives: they teach a learned head, and
                      never get boxes.
  --out FILE.json     COCO JSON: images, categories named by your labels, annotations with score
  PROJECT             a project made by 'camlabel init': proposals are stored in it, image by image;
                      an interrupted run resumes where it stopped, and a new --threshold recomputes
                      the pending proposals from the stored CAMs without running the model again
  --model ID|PATH     a model id from 'camlabel models --list' or an .onnx classifier (default: the
                      default model)
  --threshold T       fraction of the CAM's max that counts as the object (default 0.2)
  --upscale MODE      bilinear | guided (edge-following full-resolution CAM; default bilinear,
                      or the PROJECT's own setting)
  --head MODE         auto | model | learn | agnostic: where CAMs of labels come from (default auto:
                      model classes where the label is one, a head learned from your labels else)
  --map LABEL=CLASSES map a label onto model classes (wnids, names or #N-M indices, joined by ','
                      or '+'), or LABEL=learn / LABEL=agnostic; repeat for several labels. A
                      PROJECT keeps its mappings for later runs (LABEL=auto resets one) and
                      re-proposes the labels whose source changed
  --working-size N    longest side the CAM is upscaled to before boxes are taken (default 512)
  --from-review MODE  auto | off: a PROJECT's proposals learn from its reviewed boxes (default auto,
                      once 2 images with boxes are reviewed or imported; the project keeps the
                      choice); images not reviewed yet are re-proposed as the model improves
  --provider P        auto | cpu | cuda | dml | coreml (default auto: GPU when there is one)
  --shard i/n         PROJECT only: propose a stable 1/n of its images (by a hash of each path)
                      in a copy of the project, --out FILE (default P.shard-i-of-n.camlabel);
                      fold the shards back with 'camlabel merge P SHARDS…' (see docs/SHARDING.md)
  --overwrite         replace an existing --out file`

const MAX_LISTED = 20

/** A per-image failure as the output records it. */
interface Failure {
  file: string
  code: string
  reason: string
}

/**
 * Prints the import's problems: images that could not be read are errors (and failures of the
 * run), the rest (CSV rows, skipped files) warnings; enough to act on, without burying the
 * progress under thousands of lines.
 */
function reportImport(report: ImportReport, io: CommandIO): Failure[] {
  const failures: Failure[] = []
  let listed = 0
  for (const p of report.problems) {
    if (p.code) failures.push({ file: p.file, code: p.code, reason: p.message })
    if (listed++ < MAX_LISTED)
      io.stderr(`${p.code ? 'error' : 'warning'}: ${p.file}: ${p.message}\n`)
  }
  if (listed > MAX_LISTED)
    io.stderr(`warning: … and ${listed - MAX_LISTED} more rows or files that could not be used\n`)
  return failures
}

async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      ...PROPOSE_OPTIONS,
      images: { type: 'string' },
      labels: { type: 'string' },
      out: { type: 'string' },
      overwrite: { type: 'boolean' },
      shard: { type: 'string' },
    },
    'propose',
  )
  const settings = readProposeSettings(values, io.cwd)
  if (positionals.length > 0) {
    const { runProjectPropose } = await import('./proposeProject.ts')
    return runProjectPropose(positionals, settings, io, {
      ...(values.shard !== undefined ? { shard: values.shard } : {}),
      ...(values.out !== undefined ? { out: values.out } : {}),
    })
  }
  if (values.shard !== undefined)
    throw new CamlabelError('INVALID_ARGUMENT', '--shard works on a PROJECT', usage)
  if (!values.images) throw new CamlabelError('INVALID_ARGUMENT', '--images DIR is required', usage)
  if (!values.out) throw new CamlabelError('INVALID_ARGUMENT', '--out FILE.json is required', usage)
  const images = path.resolve(io.cwd, values.images)
  const out = path.resolve(io.cwd, values.out)
  const labels = values.labels ? path.resolve(io.cwd, values.labels) : undefined
  // Before any work: an hour of inference must not end in "the output exists".
  const output = {
    overwrite: values.overwrite ?? false,
    notReplaceable: (f: string) => notAnExport('coco', f),
  }
  await checkOutput(out, 'file', output)
  if (!existsSync(images))
    throw new CamlabelError('NOT_FOUND', `No image folder at ${images}`, 'Check the --images path.')

  const started = performance.now()
  const abort = new AbortController()
  const onSignal = (): void => abort.abort()
  process.once('SIGINT', onSignal)
  const store = ProjectStore.createInMemory(images)
  const report = cliReport(io)
  const identity = settings.model ?? modelIdentity()
  // The model loads in the worker while the images are imported here; a model that cannot load
  // fails the run below, with its reason.
  const worker = new InferenceWorker()
  void worker.load(identity, settings.providers).catch(() => undefined)
  try {
    let failures: Failure[]
    try {
      const imported = await importProject(store, {
        labels: labels ? { kind: 'csv', path: labels } : { kind: 'folders' },
        signal: abort.signal,
      })
      failures = reportImport(imported, io)
    } catch (err) {
      if (!abort.signal.aborted) throw err
      io.stderr('cancelled before any image was proposed; nothing written\n')
      return 130
    }
    const labelled = store.runs
      .toPropose(identity.ref, identity.revision)
      .filter((t) => proposable(t.labels).length > 0).length
    if (labelled === 0) {
      throw new CamlabelError(
        'INVALID_ARGUMENT',
        `No labelled images found under ${images}`,
        labels
          ? 'Check that the CSV rows name files inside --images.'
          : 'Put images in one sub-folder per label, or pass --labels FILE.csv.',
      )
    }
    const r = await proposeProject(store, {
      model: identity,
      ...(settings.threshold !== undefined ? { threshold: settings.threshold } : {}),
      ...(settings.workingSize !== undefined ? { workingSize: settings.workingSize } : {}),
      upscale: settings.upscale ?? 'bilinear',
      head: settings.head,
      providers: settings.providers,
      ...(settings.mappings.size ? { mappings: settings.mappings } : {}),
      signal: abort.signal,
      report,
      worker,
    })
    report.finish()
    if (r.sources.agnostic.length > 0)
      io.stderr(
        `labels the model does not know (class-agnostic CAM): ${r.sources.agnostic.join(', ')}\n`,
      )
    for (const e of store.runs.errors(r.model)) {
      failures.push({ file: e.file, code: e.code, reason: e.error })
      io.stderr(`error: ${e.file}: ${e.error}\n`)
    }
    const written = await writeProposals(store, identity, r, failures, labelled, out, output)
    const seconds = (performance.now() - started) / 1000
    const done = r.done + failures.length - r.failed
    io.stderr(
      `${done} images (${failures.length} failed), ${written} proposals in ${seconds.toFixed(1)} s · ` +
        `${(done / seconds).toFixed(1)} images/s · ${r.provider ?? '?'} · wrote ${out}\n`,
    )
    if (r.cancelled) {
      io.stderr(`cancelled: ${labelled - r.done} images not proposed (the output says so)\n`)
      return 130
    }
    return failures.length > 0 && failures.length === done ? 1 : 0
  } catch (err) {
    report.finish()
    if (toErrorData(err).code === 'CANCELLED') return 130
    throw err
  } finally {
    process.off('SIGINT', onSignal)
    store.close()
    await worker.close()
  }
}

/**
 * Writes the proposals of the images the run processed as COCO (categories sorted by name; the
 * run's model, provider, settings, label sources, learned head and failures in info.camlabel).
 * Returns how many proposals it wrote.
 */
async function writeProposals(
  store: ProjectStore,
  identity: ModelIdentity,
  r: ProposeProjectResult,
  failures: Failure[],
  labelled: number,
  out: string,
  output: AtomicOptions,
): Promise<number> {
  const dataset = store.review.dataset({
    withProposals: true,
    only: store.runs.processed(r.model, r.revision),
  })
  dataset.classes.sort()
  const coco = toCoco(dataset, { description: 'camlabel proposals' })
  const proposals = {
    ...coco,
    info: {
      ...coco.info,
      camlabel: {
        model: modelName(identity),
        provider: r.provider,
        threshold: r.run.threshold,
        upscale: r.run.upscale,
        labelSources: r.sources,
        learnedHead: r.learn?.head?.quality,
        failures,
        ...(r.cancelled ? { cancelled: true, notProposed: labelled - r.done } : {}),
      },
    },
  }
  await writeFileAtomic(out, JSON.stringify(proposals) + '\n', output)
  return coco.annotations.length
}

export const command: Command = {
  usage,
  run,
}
