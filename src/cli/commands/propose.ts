/**
 * `camlabel propose`: turns a folder of labelled photos into proposal boxes, written as COCO JSON.
 * The PROJECT form (`camlabel propose PROJECT`) runs on a project store instead (see issue 3).
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'
import type { Dataset, DatasetImage } from '../../main/formats/dataset.ts'
import { toCoco } from '../../main/formats/coco.ts'
import { writeFileAtomic } from '../../main/formats/atomicWrite.ts'
import { readFolderPerClass } from '../../main/formats/folderPerClass.ts'
import { readLabelsCsv } from '../../main/formats/labelsCsv.ts'
import { defaultModel } from '../../main/engine/manifest.ts'
import type { ImageTask } from '../../main/engine/propose.ts'
import { runProposalJob } from '../../main/jobs/proposalJob.ts'
import type { ReadyInfo } from '../../main/jobs/protocol.ts'
import { DEFAULT_PROPOSAL_OPTIONS } from '../../main/engine/types.ts'
import { parseCommandArgs } from '../args.ts'
import type { Command, CommandIO } from '../io.ts'
import { learnHeadForPropose, type LearnForProposeResult } from '../learnHead.ts'
import { progressLine } from '../progress.ts'
import { PROPOSE_OPTIONS, readProposeSettings, readyLine } from '../proposeOptions.ts'

const usage = `Usage: camlabel propose --images DIR [--labels FILE.csv] --out FILE.json [options]
       camlabel propose PROJECT [options]

Proposes bounding boxes for the labels of each image from Class Activation Maps.

  --images DIR        folder of images (recursive)
  --labels FILE.csv   header + file,label rows, paths relative to the CSV; several rows per file mean
                      several labels. Without it, sub-folders of --images are the labels.
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
  --provider P        auto | cpu | cuda | dml | coreml (default auto: GPU when there is one)
  --overwrite         replace an existing --out file`

const MAX_LISTED = 20
/** Reads the images and their labels; rows that cannot be used are reported, not fatal. */
async function readTasks(
  images: string,
  labels: string | undefined,
  io: CommandIO,
): Promise<{ tasks: ImageTask[]; labelNames: string[] }> {
  const read = labels ? await readLabelsCsv(labels, images) : await readFolderPerClass(images)
  // Enough problems to act on, without burying the progress under thousands of lines.
  for (const problem of read.problems.slice(0, MAX_LISTED)) {
    const where = labels
      ? `${labels}:${problem.line}`
      : ('file' in problem && problem.file) || images
    io.stderr(`warning: ${where}: ${problem.reason}\n`)
  }
  if (read.problems.length > MAX_LISTED) {
    io.stderr(
      `warning: … and ${read.problems.length - MAX_LISTED} more rows or files that could not be used\n`,
    )
  }
  const byFile = new Map<string, ImageTask>()
  for (const row of read.rows) {
    const task = byFile.get(row.file) ?? { key: row.file, path: row.path, labels: [] }
    if (!task.labels.includes(row.label)) task.labels.push(row.label)
    byFile.set(row.file, task)
  }
  const labelNames = [...new Set(read.rows.map((r) => r.label))].sort()
  return { tasks: [...byFile.values()], labelNames }
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
    },
    'propose',
  )
  const settings = readProposeSettings(values, io.cwd)
  if (positionals.length > 0) {
    const { runProjectPropose } = await import('./proposeProject.ts')
    return runProjectPropose(positionals, settings, io)
  }
  if (!values.images) throw new CamlabelError('INVALID_ARGUMENT', '--images DIR is required', usage)
  if (!values.out) throw new CamlabelError('INVALID_ARGUMENT', '--out FILE.json is required', usage)
  const images = path.resolve(io.cwd, values.images)
  const out = path.resolve(io.cwd, values.out)
  const labels = values.labels ? path.resolve(io.cwd, values.labels) : undefined
  const proposal = {
    ...DEFAULT_PROPOSAL_OPTIONS,
    threshold: settings.threshold ?? DEFAULT_PROPOSAL_OPTIONS.threshold,
    workingSize: settings.workingSize ?? DEFAULT_PROPOSAL_OPTIONS.workingSize,
  }
  const { head, providers, mappings } = settings
  const upscale = settings.upscale ?? 'bilinear'
  const model = settings.model ?? defaultModel().id
  // Before any work: an hour of inference must not end in "the output exists".
  if (!values.overwrite && existsSync(out)) {
    throw new CamlabelError(
      'ALREADY_EXISTS',
      `${out} exists`,
      'Choose another --out, or pass --overwrite to replace it.',
    )
  }

  const { tasks, labelNames } = await readTasks(images, labels, io)
  if (tasks.length === 0) {
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `No labelled images found under ${images}`,
      labels
        ? 'Check that the CSV rows name files inside --images.'
        : 'Put images in one sub-folder per label, or pass --labels FILE.csv.',
    )
  }

  const started = performance.now()
  let progress = progressLine(io, 'propose')
  let ready: ReadyInfo | undefined
  const dataset: Dataset = { classes: labelNames, images: [] }
  const failures: { file: string; code: string; reason: string }[] = []
  const abort = new AbortController()
  const onSignal = (): void => abort.abort()
  process.once('SIGINT', onSignal)
  let done = 0
  let learning: LearnForProposeResult | undefined
  let cancelled = false
  try {
    // --head learn|auto: a feature pass and a head trained from the labels, before proposing.
    learning = await learnHeadForPropose(tasks, {
      model,
      providers,
      head,
      mappings,
      signal: abort.signal,
      io,
    })
    if (learning.head) progress = progressLine(io, 'propose') // the rate and ETA of proposing alone
    for await (const result of runProposalJob(tasks, {
      model,
      providers,
      proposal,
      upscale,
      head,
      learned: learning.learned,
      mappings,
      signal: abort.signal,
      onReady: (info) => {
        ready = info
        io.stderr(readyLine(info))
        if (info.sources.agnostic.length > 0) {
          io.stderr(
            `labels the model does not know (class-agnostic CAM): ${info.sources.agnostic.join(', ')}\n`,
          )
        }
      },
    })) {
      done++
      for (const w of result.warnings) io.stderr(`warning: ${result.key}: ${w}\n`)
      if (result.error) {
        failures.push({ file: result.key, code: result.error.code, reason: result.error.message })
        io.stderr(`error: ${result.key}: ${result.error.message}\n`)
      } else {
        const image: DatasetImage = {
          file: result.key,
          width: result.width,
          height: result.height,
          boxes: [],
          labels: result.labels.map((l) => l.label),
        }
        for (const l of result.labels) {
          for (const p of l.proposals)
            image.boxes.push({ box: p.box, label: l.label, score: p.score })
        }
        dataset.images.push(image)
      }
      progress.update(done, tasks.length, failures.length)
    }
  } catch (err) {
    // Ctrl-C: keep what is done (the output says it is partial); anything else is a failure.
    if (!abort.signal.aborted) throw err
    cancelled = true
  } finally {
    process.off('SIGINT', onSignal)
    progress.finish()
  }
  const coco = toCoco(dataset, { description: 'camlabel proposals' })
  const output = {
    ...coco,
    info: {
      ...coco.info,
      camlabel: {
        model: ready?.modelId ?? model,
        provider: ready?.provider,
        threshold: proposal.threshold,
        upscale,
        labelSources: ready?.sources,
        learnedHead: learning?.head?.quality,
        failures,
        ...(cancelled ? { cancelled: true, notProposed: tasks.length - done } : {}),
      },
    },
  }
  await writeFileAtomic(out, JSON.stringify(output) + '\n', {
    overwrite: values.overwrite ?? false,
  })
  const seconds = (performance.now() - started) / 1000
  io.stderr(
    `${done} images (${failures.length} failed), ${coco.annotations.length} proposals in ${seconds.toFixed(1)} s · ` +
      `${(done / seconds).toFixed(1)} images/s · ${ready?.provider ?? '?'} · wrote ${out}\n`,
  )
  if (cancelled) {
    io.stderr(`cancelled: ${tasks.length - done} images not proposed (the output says so)\n`)
    return 130
  }
  return failures.length === tasks.length ? 1 : 0
}

export const command: Command = {
  summary: 'propose boxes for labelled images (COCO JSON out)',
  usage,
  run,
}
