/**
 * Bilinear vs guided upscaling (issue 6) on the shared photos, through the real pipeline stages
 * (openModel, prepareImage with a guide, proposeFromForward with `upscale` 'bilinear' and 'guided'):
 * - imagenet-val-dev, true class given: GT-known box accuracy at IoU 0.5 and 0.7;
 * - raccoon (not an ImageNet class, class-agnostic CAM): mean best IoU of the main proposal.
 *
 *   npx tsx scripts/eval-refine.ts [imagenet|raccoon] [--limit N] [--params '{"iterations":5}']
 *
 * Each image is decoded and run through the model once; both upscalers then work on the same CAM.
 */
import { readFileSync, readdirSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import type { Box } from '../src/shared/box.ts'
import { boxAccuracy, meanBestIou, type LocalisationCase } from '../src/main/eval/boxAccuracy.ts'
import { readLabelsCsv } from '../src/main/formats/labelsCsv.ts'
import { parseVocXml } from '../src/main/formats/voc.ts'
import type { LabelSource } from '../src/main/engine/labels.ts'
import { prepareImage } from '../src/main/engine/preprocess.ts'
import { proposeFromForward, type ImageTask } from '../src/main/engine/propose.ts'
import type { RefineParams } from '../src/main/engine/refine.ts'
import { openModel } from '../src/main/engine/session.ts'
import { DEFAULT_PROPOSAL_OPTIONS } from '../src/main/engine/types.ts'

const sharedRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared')

/** One image's ground truth and where its CAM comes from. */
interface EvalItem {
  path: string
  truth: Box[]
  source: LabelSource
}

export interface RefineEvaluation {
  dataset: string
  images: number
  bilinear: { acc05: number; acc07: number; meanIou: number }
  guided: { acc05: number; acc07: number; meanIou: number }
  /** Mean ms per image of the guided upscaling alone (wall clock). */
  guidedMs: number
}

function sharedPath(...parts: string[]): string {
  return path.join(sharedRoot, ...parts)
}

async function imagenetItems(): Promise<EvalItem[]> {
  const dir = sharedPath('data/imagenet-val-dev')
  const synsets = readFileSync(sharedPath('models/imagenet-synsets.txt'), 'utf8')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .map((l) => l.split(' ')[0]!)
  const gt = JSON.parse(readFileSync(path.join(dir, 'ground-truth.coco.json'), 'utf8')) as {
    images: { id: number; file_name: string }[]
    categories: { id: number; name: string }[]
    annotations: { image_id: number; category_id: number; bbox: number[] }[]
  }
  const categories = new Map(gt.categories.map((c) => [c.id, c.name]))
  const imageIds = new Map(gt.images.map((i) => [path.basename(i.file_name), i.id]))
  const csv = await readLabelsCsv(path.join(dir, 'labels.csv'), path.join(dir, 'images'))
  return csv.rows.map((row) => {
    const id = imageIds.get(path.basename(row.file))
    const truth = gt.annotations
      .filter((a) => a.image_id === id && categories.get(a.category_id) === row.label)
      .map((a) => ({
        x0: a.bbox[0]!,
        y0: a.bbox[1]!,
        x1: a.bbox[0]! + a.bbox[2]!,
        y1: a.bbox[1]! + a.bbox[3]!,
      }))
    const classIndex = synsets.indexOf(row.label)
    if (classIndex < 0) throw new Error(`${row.label} is not in imagenet-synsets.txt`)
    return { path: row.path, truth, source: { kind: 'model', classIndices: [classIndex] } }
  })
}

function raccoonItems(): EvalItem[] {
  const dir = sharedPath('data/raccoon')
  return readdirSync(path.join(dir, 'annotations'))
    .filter((f) => f.endsWith('.xml'))
    .sort()
    .map((f) => {
      const voc = parseVocXml(readFileSync(path.join(dir, 'annotations', f), 'utf8'), f)
      return {
        path: path.join(dir, 'images', voc.filename),
        truth: voc.objects.filter((o) => o.label === 'raccoon').map((o) => o.box),
        source: { kind: 'agnostic' } as const,
      }
    })
}

/**
 * Runs both upscalers over one dataset. `params` go to the guided upscaler; `limit` takes every
 * k-th image so a quick run still spans the set.
 */
export async function evaluateRefine(
  dataset: 'imagenet' | 'raccoon',
  options: { limit?: number; params?: Partial<RefineParams> } = {},
): Promise<RefineEvaluation> {
  let items = dataset === 'imagenet' ? await imagenetItems() : raccoonItems()
  if (options.limit && options.limit < items.length) {
    const step = items.length / options.limit
    items = Array.from({ length: options.limit }, (_, i) => items[Math.floor(i * step)]!)
  }
  const model = await openModel('squeezenet1.1-fp16', { providers: 'cpu' })
  const bilinear: LocalisationCase[] = []
  const guided: LocalisationCase[] = []
  let guidedMs = 0
  try {
    for (const item of items) {
      const prepared = await prepareImage(item.path, model.spec.preprocessing, {
        guideSize: DEFAULT_PROPOSAL_OPTIONS.workingSize,
      })
      const fwd = await model.forward(prepared.tensor)
      const task: ImageTask = { key: item.path, path: item.path, labels: ['x'] }
      const run = { proposal: DEFAULT_PROPOSAL_OPTIONS, sources: () => item.source }
      const base = proposeFromForward(task, prepared, fwd, model, { ...run, upscale: 'bilinear' })
      const label = base.labels[0]!
      bilinear.push({ truth: item.truth, predicted: label.proposals[0]?.box })
      // Guided through the pipeline's own path, from the same forward pass, so the two differ only
      // by the upscaler.
      const t0 = performance.now()
      const refined = proposeFromForward(task, prepared, fwd, model, {
        ...run,
        upscale: 'guided',
        ...(options.params ? { refine: options.params } : {}),
      })
      guidedMs += performance.now() - t0
      guided.push({ truth: item.truth, predicted: refined.labels[0]!.proposals[0]?.box })
    }
  } finally {
    await model.dispose()
  }
  const summary = (cases: LocalisationCase[]) => ({
    acc05: boxAccuracy(cases, 0.5),
    acc07: boxAccuracy(cases, 0.7),
    meanIou: meanBestIou(cases),
  })
  return {
    dataset,
    images: items.length,
    bilinear: summary(bilinear),
    guided: summary(guided),
    guidedMs: guidedMs / items.length,
  }
}

function format(e: RefineEvaluation): string {
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`
  const row = (name: string, s: RefineEvaluation['bilinear']): string =>
    `  ${name.padEnd(9)} @0.5 ${pct(s.acc05).padStart(6)}  @0.7 ${pct(s.acc07).padStart(6)}  mean IoU ${s.meanIou.toFixed(3)}`
  return [
    `${e.dataset}: ${e.images} images`,
    row('bilinear', e.bilinear),
    row('guided', e.guided),
    `  guided upscaling ${e.guidedMs.toFixed(1)} ms/image (wall clock)`,
  ].join('\n')
}

async function main(argv: string[]): Promise<void> {
  const datasets = argv.filter((a) => a === 'imagenet' || a === 'raccoon') as (
    'imagenet' | 'raccoon'
  )[]
  const limitAt = argv.indexOf('--limit')
  const paramsAt = argv.indexOf('--params')
  const limit = limitAt >= 0 ? Number(argv[limitAt + 1]) : undefined
  const params =
    paramsAt >= 0 ? (JSON.parse(argv[paramsAt + 1]!) as Partial<RefineParams>) : undefined
  for (const d of datasets.length ? datasets : (['imagenet', 'raccoon'] as const)) {
    console.log(format(await evaluateRefine(d, { limit, params })))
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main(process.argv.slice(2))
