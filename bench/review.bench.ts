/**
 * Proposals that learn from reviewed boxes (issue 14), measured as a user would meet them: a
 * project is made from the image-level labels, the first K images by file name (natural order) get
 * their ground-truth boxes as imported (reviewed) boxes, `proposeProject` runs as `camlabel propose
 * P` does, and the images not reviewed are scored against their ground truth:
 * - GT-known box accuracy @0.5 / @0.7 and mean IoU of each (image, label)'s main proposal,
 * - instance recall @0.5: the share of ground-truth boxes matched by some proposal of their label,
 * each beside K = 0 (plain CAMs) scored on the same images in the same run. Then the time of one
 * update (one more reviewed image: its cells, then the fit, as the app does after a review) for K
 * reviewed and for a project of 1 000 reviewed images, beside the proposal time of one image.
 * Run: `npm run bench -- review`.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { iou, type Box } from '../src/shared/box.ts'
import { DEFAULT_PROPOSAL_OPTIONS } from '../src/shared/cam/types.ts'
import { describeModel } from '../src/main/engine/modelInfo.ts'
import { modelIdentity } from '../src/main/engine/modelIdentity.ts'
import { InferenceWorker } from '../src/main/jobs/worker.ts'
import { checkImages } from '../src/main/project/imageFiles.ts'
import { importProject, type ImportSource } from '../src/main/project/importProject.ts'
import { planLabels } from '../src/main/project/labelPlan.ts'
import { proposeProject } from '../src/main/project/proposeProject.ts'
import { learnFromReview } from '../src/main/project/reviewLearning.ts'
import { naturalKey } from '../src/main/store/naturalKey.ts'
import { ProjectStore } from '../src/main/store/projectStore.ts'

const data = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared/data')

interface Dataset {
  name: string
  root: string
  labels: string
  truth: ImportSource
  ks: number[]
}

const DATASETS: Dataset[] = [
  {
    name: 'raccoon',
    root: path.join(data, 'raccoon'),
    labels: path.join(data, 'raccoon/labels.csv'),
    truth: { kind: 'voc', dir: path.join(data, 'raccoon/annotations') },
    ks: [0, 5, 10, 20, 40],
  },
  {
    name: 'imagenet-val-dev',
    root: path.join(data, 'imagenet-val-dev'),
    labels: path.join(data, 'imagenet-val-dev/labels.csv'),
    truth: { kind: 'coco', path: path.join(data, 'imagenet-val-dev/ground-truth.coco.json') },
    ks: [0, 50, 100],
  },
]

type Truth = Map<string, { label: string; box: Box }[]>

/** Ground-truth boxes by image path, read by the project's own importer (an in-memory project). */
async function readTruth(d: Dataset): Promise<Truth> {
  const store = ProjectStore.createInMemory(d.root)
  await importProject(store, { labels: d.truth })
  const out: Truth = new Map()
  for (const im of store.review.dataset({ unreviewed: true }).images)
    out.set(
      im.file,
      im.boxes.map((b) => ({ label: b.label, box: b.box })),
    )
  store.close()
  return out
}

/** A project from the labels with the first `k` images' true boxes imported as reviewed. */
async function projectWith(d: Dataset, truth: Truth, k: number): Promise<ProjectStore> {
  const store = ProjectStore.createInMemory(d.root)
  await importProject(store, { labels: { kind: 'csv', path: d.labels } })
  const files = [...truth.keys()].sort((a, b) => (naturalKey(a) < naturalKey(b) ? -1 : 1))
  const ids = new Map(store.images.all().map((im) => [im.file, im.id]))
  store.transaction(() => {
    for (const file of files.slice(0, k)) store.review.addImported(ids.get(file)!, truth.get(file)!)
  })
  return store
}

interface Scored {
  file: string
  /** Best IoU of the main proposal of each (label) with the truth of that label. */
  main: number[]
  /** Per true box: matched at IoU ≥ 0.5 by some proposal of its label. */
  found: boolean[]
}

/** Scores every image's pending proposals against its truth. */
function score(store: ProjectStore, truth: Truth): Map<string, Scored> {
  const rows = store.db
    .prepare(
      `SELECT i.path AS file, c.name AS label, p.x0, p.y0, p.x1, p.y1, p.score FROM proposals p
         JOIN images i ON i.id = p.image_id JOIN classes c ON c.id = p.class_id
         WHERE NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id)`,
    )
    .all() as ({ file: string; label: string; score: number } & Box)[]
  const byFile = new Map<string, typeof rows>()
  for (const r of rows) byFile.set(r.file, [...(byFile.get(r.file) ?? []), r])
  const out = new Map<string, Scored>()
  for (const [file, boxes] of truth) {
    const proposals = byFile.get(file) ?? []
    const labels = [...new Set(boxes.map((b) => b.label))]
    const main = labels.map((label) => {
      const best = proposals
        .filter((p) => p.label === label)
        .reduce<(typeof proposals)[number] | undefined>(
          (a, p) => (a === undefined || p.score > a.score ? p : a),
          undefined,
        )
      return best
        ? Math.max(...boxes.filter((b) => b.label === label).map((b) => iou(b.box, best)))
        : 0
    })
    const found = boxes.map((b) =>
      proposals.some((p) => p.label === b.label && iou(b.box, p) >= 0.5),
    )
    out.set(file, { file, main, found })
  }
  return out
}

function summary(scored: Scored[]): string {
  const main = scored.flatMap((s) => s.main)
  const found = scored.flatMap((s) => s.found)
  const pct = (x: number) => (100 * x).toFixed(1).padStart(5)
  const acc = (bound: number) => main.filter((v) => v >= bound).length / main.length
  const mean = main.reduce((a, v) => a + v, 0) / main.length
  const recall = found.filter(Boolean).length / found.length
  return `${pct(acc(0.5))} / ${pct(acc(0.7))} / ${mean.toFixed(3)} / ${pct(recall)}`
}

/** One update after one more reviewed image: its cells (one forward) and the fit. */
async function updateMs(store: ProjectStore, worker: InferenceWorker, file: string, truth: Truth) {
  const identity = modelIdentity()
  const info = await describeModel(identity)
  const id = store.images.all().find((im) => im.file === file)!.id
  store.review.addImported(id, truth.get(file)!)
  const labels = store.labels.withImages().map((l) => l.label)
  const plan = planLabels(labels, {
    classes: info.classes,
    mode: 'auto',
    mappings: store.labels.mappings(),
  })
  const check = await checkImages(store, store.images.all(), { update: false })
  const t0 = performance.now()
  const r = await learnFromReview(store, {
    model: identity,
    featureKey: info.featureKey,
    plan,
    proposal: DEFAULT_PROPOSAL_OPTIONS,
    paths: check.paths,
    worker,
  })
  return { ms: performance.now() - t0, fitMs: r.model?.fitMs ?? 0, extracted: r.extracted }
}

export async function run(): Promise<void> {
  const worker = new InferenceWorker()
  try {
    console.log(
      '\nreview: proposals that learn from reviewed boxes (SqueezeNet 1.1 fp16, bilinear)',
    )
    console.log(
      '  scored on the images not reviewed: @0.5 / @0.7 / mean IoU / instance recall @0.5',
    )
    for (const d of DATASETS) {
      const truth = await readTruth(d)
      const files = [...truth.keys()].sort((a, b) => (naturalKey(a) < naturalKey(b) ? -1 : 1))
      let plain: Map<string, Scored> | undefined
      let perImageMs = 0
      console.log(`\n  ${d.name} (${truth.size} images)`)
      console.log(
        '     K | scored | K = 0 (plain CAMs)            | learned from K reviewed       | update',
      )
      for (const k of d.ks) {
        const store = await projectWith(d, truth, k)
        const t0 = performance.now()
        const r = await proposeProject(store, { worker })
        const ms = performance.now() - t0
        const scored = score(store, truth)
        if (k === 0) {
          plain = scored
          perImageMs = ms / Math.max(1, r.done)
        }
        const unreviewed = files.slice(k)
        const mine = unreviewed.map((f) => scored.get(f)!)
        const base = unreviewed.map((f) => plain!.get(f)!)
        let update = ''
        if (k > 0) {
          const u = await updateMs(store, worker, files[k]!, truth)
          update = `${u.ms.toFixed(0)} ms (fit ${u.fitMs.toFixed(0)} ms; one image proposed: ${perImageMs.toFixed(0)} ms)`
        }
        const v = r.review?.model?.validation
        console.log(
          `  ${String(k).padStart(4)} | ${String(unreviewed.length).padStart(6)} | ${summary(base)} | ${k ? summary(mine) : '(plain)                      '} | ${update}` +
            (v
              ? `\n       held-out check on ${v.images}: ${(100 * v.acc05).toFixed(0)}% / ${(100 * v.acc07).toFixed(0)}% / ${v.meanIou.toFixed(3)}, level ${r.review!.model!.head.level}`
              : ''),
        )
        store.close()
      }
    }
    await thousand(worker)
  } finally {
    await worker.close()
  }
}

/**
 * One update for a project with 1 000 reviewed images: imagenet-val-dev's 300 photos copied 4
 * times under other names (distinct files, so distinct images) with their true boxes imported;
 * the first update computes every image's cells, the timed one adds one more reviewed image.
 */
async function thousand(worker: InferenceWorker): Promise<void> {
  const d = DATASETS[1]!
  const truth = await readTruth(d)
  const dir = mkdtempSync(path.join(os.tmpdir(), 'camlabel-review-bench-'))
  try {
    const copied: Truth = new Map()
    for (let c = 0; c < 4; c++) {
      mkdirSync(path.join(dir, `copy${c}`))
      for (const [file, boxes] of truth) {
        const to = `copy${c}/${path.basename(file)}`
        cpSync(path.join(d.root, file), path.join(dir, to))
        copied.set(to, boxes)
      }
    }
    const store = ProjectStore.createInMemory(dir)
    await importProject(store, { labels: { kind: 'csv', path: writeLabels(dir, copied) } })
    const files = [...copied.keys()].sort()
    const ids = new Map(store.images.all().map((im) => [im.file, im.id]))
    store.transaction(() => {
      for (const f of files.slice(0, 1000)) store.review.addImported(ids.get(f)!, copied.get(f)!)
    })
    const cold = await updateMs(store, worker, files[1000]!, copied)
    const warm = await updateMs(store, worker, files[1001]!, copied)
    const t0 = performance.now()
    const r = await proposeProject(store, { worker, limit: 20, fromReview: 'off' })
    const perImage = (performance.now() - t0) / Math.max(1, r.done)
    console.log(
      `\n  1 000 reviewed images: first update (cells of all ${cold.extracted}) ${(cold.ms / 1000).toFixed(1)} s;` +
        ` one more reviewed image: ${warm.ms.toFixed(0)} ms (fit ${warm.fitMs.toFixed(0)} ms) vs one image proposed ${perImage.toFixed(0)} ms`,
    )
    store.close()
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function writeLabels(dir: string, truth: Truth): string {
  const file = path.join(dir, 'labels.csv')
  const lines = ['file,label']
  for (const [f, boxes] of truth)
    for (const l of new Set(boxes.map((b) => b.label))) lines.push(`${f},${l}`)
  writeFileSync(file, lines.join('\n') + '\n')
  return file
}
