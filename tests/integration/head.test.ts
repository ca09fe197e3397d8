import { readdirSync } from 'node:fs'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { readFileSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { extractFeatures } from '../../src/main/engine/features.ts'
import { describeModel } from '../../src/main/engine/modelInfo.ts'
import { featureKey, modelIdentity } from '../../src/main/engine/modelIdentity.ts'
import { main } from '../../src/cli/main.ts'
import { importProject } from '../../src/main/project/importProject.ts'
import { proposeProject } from '../../src/main/project/proposeProject.ts'
import { ProjectStore } from '../../src/main/store/projectStore.ts'
import {
  headSources,
  trainHead,
  type HeadSample,
  type LearnedHead,
} from '../../src/main/engine/head.ts'
import { resolveLabelSources } from '../../src/main/engine/labels.ts'
import { proposeImages, type ImageTask } from '../../src/main/engine/propose.ts'
import { openModel, type LoadedModel } from '../../src/main/engine/session.ts'
import { DEFAULT_PROPOSAL_OPTIONS } from '../../src/main/engine/types.ts'
import {
  boxAccuracy,
  casesFromCoco,
  type CocoLike,
  type LocalisationCase,
} from '../../src/main/eval/boxAccuracy.ts'
import { readLabelsCsv } from '../../src/main/formats/labelsCsv.ts'
import type { Box } from '../../src/shared/box.ts'
import { captureIO } from '../helpers/cli.ts'
import { shared, sharedJson } from '../helpers/shared.ts'

/** The 10 coarse labels of labels-coarse.csv, none of them an ImageNet class. */
const COARSE_CLASSES = [
  'aircraft',
  'bird',
  'boat',
  'cat',
  'dog',
  'fish',
  'insect',
  'primate',
  'reptile',
  'vehicle',
]

interface Coco {
  images: { id: number; file_name: string }[]
  categories: { id: number; name: string }[]
  annotations: { image_id: number; category_id: number; bbox: [number, number, number, number] }[]
}

async function coarseTasks(): Promise<ImageTask[]> {
  const root = shared('data/imagenet-val-dev')
  const { rows, problems } = await readLabelsCsv(path.join(root, 'labels-coarse.csv'), root)
  expect(problems).toEqual([])
  const byFile = new Map<string, ImageTask>()
  for (const r of rows) {
    const t = byFile.get(r.file) ?? { key: r.file, path: r.path, labels: [] }
    t.labels.push(r.label)
    byFile.set(r.file, t)
  }
  return [...byFile.values()]
}

async function features(model: LoadedModel, tasks: ImageTask[]): Promise<HeadSample[]> {
  const samples: HeadSample[] = []
  let progress = 0
  for await (const r of extractFeatures(model, tasks, { onProgress: (p) => (progress = p.done) })) {
    expect(r.error).toBeUndefined()
    samples.push({ features: r.features!, labels: tasks.find((t) => t.key === r.key)!.labels })
  }
  expect(progress).toBe(tasks.length)
  return samples
}

describe('learned CAM heads on real photos (SqueezeNet 1.1)', () => {
  let model: LoadedModel
  let tasks: ImageTask[]
  let head: LearnedHead

  beforeAll(async () => {
    model = await openModel('squeezenet1.1-fp16', { providers: 'cpu' })
    tasks = await coarseTasks()
    head = trainHead(await features(model, tasks))
  })
  afterAll(async () => model?.dispose())

  test('the pooled features are the 512 channels before conv10, keyed by model and preprocessing', () => {
    expect(tasks).toHaveLength(114)
    expect(head.numFeatures).toBe(512)
    expect(featureKey(model.identity, model.head.featureTensor)).toMatch(
      /^squeezenet1\.1-fp16:fire9\/concat_2:[0-9a-f]{16}$/,
    )
  })

  test('the quality report: 10 classes, cross-validated, warns where a class has too few images', () => {
    const q = head.quality
    expect(head.mode).toBe('softmax')
    expect(q.usable).toBe(true)
    expect(q.images).toBe(114)
    expect(q.classes.map((c) => c.name).sort()).toEqual(COARSE_CLASSES)
    // 'aircraft' has 1 image and 'cat' 3: both warned about; the others have 5 or more.
    expect(q.warnings).toHaveLength(2)
    expect(q.classes.find((c) => c.name === 'aircraft')!.warning).toMatch(
      /1 image: too few images to learn/,
    )
    expect(q.classes.find((c) => c.name === 'cat')!.warning).toMatch(
      /3 images: too few images to learn/,
    )
    // Chance is ~25% (always 'bird'); pooled SqueezeNet features separate these classes far better.
    console.log(
      `coarse head CV accuracy ${q.cvAccuracy}; per class ${q.classes.map((c) => `${c.name} ${c.cvAccuracy?.toFixed(2)}`).join(', ')}`,
    )
    expect(q.cvAccuracy).toBeGreaterThan(0.6)
    expect(q.classes.find((c) => c.name === 'dog')!.cvAccuracy).toBeGreaterThan(0.8)
  })

  test('proposals from the learned weights reach GT-known box accuracy ≥ 60% at IoU 0.5', async () => {
    const labels = new Set(tasks.flatMap((t) => t.labels))
    const sources = resolveLabelSources(labels, model.classes, 'learn', headSources(head))
    for (const l of labels) expect(sources.get(l)!.kind).toBe('learned')
    const truth = sharedJson<Coco>('data/imagenet-val-dev/ground-truth-coarse.coco.json')
    const files = new Map(truth.images.map((i) => [i.id, i.file_name]))
    const classes = new Map(truth.categories.map((c) => [c.id, c.name]))
    const boxes = new Map<string, Box[]>()
    for (const a of truth.annotations) {
      const key = `${files.get(a.image_id)}|${classes.get(a.category_id)}`
      const [x, y, w, h] = a.bbox
      boxes.set(key, [...(boxes.get(key) ?? []), { x0: x, y0: y, x1: x + w, y1: y + h }])
    }
    const cases: LocalisationCase[] = []
    for await (const r of proposeImages(model, tasks, {
      proposal: DEFAULT_PROPOSAL_OPTIONS,
      sources: (l) => sources.get(l)!,
    })) {
      expect(r.error).toBeUndefined()
      for (const l of r.labels) {
        expect(l.source).toBe('learned')
        const main = l.proposals.find((p) => p.rank === 0)
        cases.push({ truth: boxes.get(`${r.key}|${l.label}`) ?? [], predicted: main?.box })
      }
    }
    expect(cases).toHaveLength(114)
    expect(cases.every((c) => c.truth.length > 0)).toBe(true)
    const acc = boxAccuracy(cases, 0.5)
    console.log(
      `learned head box accuracy @0.3 ${boxAccuracy(cases, 0.3)} @0.5 ${acc} @0.7 ${boxAccuracy(cases, 0.7)}`,
    )
    expect(acc).toBeGreaterThanOrEqual(0.6)
    // Sanity of the measure itself: a box over the whole image does much worse on these photos.
    const whole = cases.map((c) => ({
      truth: c.truth,
      predicted: { x0: 0, y0: 0, x1: 227, y1: 227 },
    }))
    expect(boxAccuracy(whole, 0.5)).toBeLessThan(acc - 0.1)
  })

  test('one class only (raccoon photos): warned, and the class-agnostic CAM stays in use', async () => {
    const dir = shared('data/raccoon/images')
    const files = readdirSync(dir)
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .slice(0, 8)
    const raccoons: ImageTask[] = files.map((f) => ({
      key: f,
      path: path.join(dir, f),
      labels: ['raccoon'],
    }))
    const samples = await features(model, raccoons)
    const alone = trainHead(samples)
    expect(alone.quality.usable).toBe(false)
    expect(alone.quality.warnings.join('\n')).toMatch(/nothing to discriminate against/)
    expect(
      resolveLabelSources(['raccoon'], model.classes, 'auto', headSources(alone)).get('raccoon')!
        .kind,
    ).toBe('agnostic')
    // With other photos as 'background' negatives the raccoon head is learned; background is never proposed.
    const others = (await coarseTasks()).slice(0, 8).map((t) => ({ ...t, labels: ['background'] }))
    const withNegatives = trainHead([...samples, ...(await features(model, others))])
    expect(withNegatives.quality.usable).toBe(true)
    expect([...headSources(withNegatives).keys()]).toEqual(['raccoon'])
    const sources = resolveLabelSources(
      ['raccoon', 'background'],
      model.classes,
      'auto',
      headSources(withNegatives),
    )
    expect(sources.get('raccoon')!.kind).toBe('learned')
  })
})

describe('camlabel propose --head learn|auto: the feature pass and training before proposing', () => {
  test('auto on the coarse labels: every label learned, quality printed, ≥ 60% box accuracy through the worker', async () => {
    const root = shared('data/imagenet-val-dev')
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'camlabel-head-')), 'coarse.json')
    const io = captureIO(process.cwd())
    const code = await main(
      [
        'propose',
        '--images',
        root,
        '--labels',
        path.join(root, 'labels-coarse.csv'),
        '--out',
        out,
        '--provider',
        'cpu',
      ],
      io,
    )
    expect(code, io.err).toBe(0)
    expect(io.err).toContain('learning a CAM head for: ')
    expect(io.err).toMatch(
      /learned head: softmax regression, λ 0\.01, 114 images, 5-fold CV accuracy \d+\.\d%/,
    )
    expect(io.err).toMatch(/warning: 'aircraft' has 1 image: too few images to learn/)
    const coco = JSON.parse(readFileSync(out, 'utf8')) as CocoLike & {
      info: {
        camlabel: { labelSources: Record<string, string[]>; learnedHead: { images: number } }
      }
    }
    expect(coco.info.camlabel.labelSources.learned!.sort()).toEqual(COARSE_CLASSES)
    expect(coco.info.camlabel.labelSources.agnostic).toEqual([])
    expect(coco.info.camlabel.learnedHead.images).toBe(114)
    const truth = sharedJson<CocoLike>('data/imagenet-val-dev/ground-truth-coarse.coco.json')
    const acc = boxAccuracy(casesFromCoco(truth, coco), 0.5)
    console.log(`propose --head auto (worker) on coarse labels: box accuracy @0.5 ${acc}`)
    expect(acc).toBeGreaterThanOrEqual(0.6)
  })

  test('a single label everywhere (raccoon): the one-class warning, no feature pass, agnostic CAM', async () => {
    const root = shared('data/raccoon')
    const out = path.join(mkdtempSync(path.join(tmpdir(), 'camlabel-head-')), 'raccoon.json')
    const io = captureIO(process.cwd())
    const code = await main(
      [
        'propose',
        '--images',
        root,
        '--labels',
        path.join(root, 'labels.csv'),
        '--out',
        out,
        '--head',
        'learn',
      ],
      io,
    )
    expect(code, io.err).toBe(0)
    expect(io.err).toMatch(
      /^warning: Only one class \('raccoon'\): nothing to discriminate against/,
    )
    expect(io.err).not.toContain('features')
    const coco = JSON.parse(readFileSync(out, 'utf8')) as {
      info: { camlabel: { labelSources: Record<string, string[]>; learnedHead?: unknown } }
    }
    expect(coco.info.camlabel.labelSources.agnostic).toEqual(['raccoon'])
    expect(coco.info.camlabel.learnedHead).toBeUndefined()
  })

  test('auto with labels the model knows: no head is learned and no feature pass is run at all', async () => {
    const root = shared('data/imagenet-val-dev')
    const dir = mkdtempSync(path.join(tmpdir(), 'camlabel-head-'))
    const rows = readFileSync(path.join(root, 'labels.csv'), 'utf8').trim().split(/\r?\n/)
    const csv = path.join(dir, 'labels.csv')
    const images = path.relative(dir, path.join(root, 'images'))
    const forty = rows.slice(1, 41).map((r) => r.replace(/^images\//, `${images}/`))
    writeFileSync(csv, ['file,label', ...forty].join('\n') + '\n')
    const store = ProjectStore.create(path.join(dir, 'known.camlabel'), root)
    await importProject(store, { labels: { kind: 'csv', path: csv } })
    const seen: string[] = []
    const r = await proposeProject(store, {
      model: 'squeezenet1.1-fp16',
      providers: 'cpu',
      head: 'auto',
      report: (e) => void seen.push(e.type === 'progress' ? e.stage : e.type),
    })
    expect(r.done).toBe(40)
    expect(r.learn).toBeUndefined()
    expect(r.learnedLabels).toEqual([])
    expect(r.sources.agnostic).toEqual([])
    expect(seen).not.toContain('features')
    expect(seen).not.toContain('learning')
    expect(store.jobs.list('features')).toEqual([])
    expect(store.learning.head()).toBeUndefined()
    const model = await describeModel(modelIdentity('squeezenet1.1-fp16'))
    expect(store.learning.featureCounts(model.featureKey).cached).toBe(0)
    store.close()
  })
})
