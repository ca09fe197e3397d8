/**
 * Proposals that learn from the project's reviewed boxes: every reviewed image (all its proposals
 * decided) is a fully supervised example. Its feature cells and labels' CAMs are computed once (in
 * the worker, cached in the store), an objectness head is fitted on all reviewed images' cells and
 * validated on held-out ones (engine/objectness.ts, in the worker too), and the result is kept in
 * the project's meta under a fingerprint of what it was learned from. proposeProject then proposes
 * every image not reviewed yet with it, and re-proposes those made by an older one.
 */
import { createHash } from 'node:crypto'
import type { ProposalOptions } from '../../shared/cam/types.ts'
import type { ModelIdentity } from '../engine/modelIdentity.ts'
import {
  CellSampleBuilder,
  cellBudget,
  FIT_IMAGES,
  foldCount,
  imageCells,
  keepsFolds,
  type HeldScores,
  type ObjectnessFit,
  type ObjectnessHead,
  type ObjectnessValidation,
  type ReviewedImage,
} from '../engine/objectness.ts'
import type { ProviderChoice } from '../engine/session.ts'
import type { Report } from '../jobs/progress.ts'
import type { InferenceWorker } from '../jobs/worker.ts'
import type { ProjectStore } from '../store/projectStore.ts'
import {
  decodeCams,
  decodeFeatures,
  decodeRows,
  poolRows,
  type ReviewedRow,
} from '../store/reviewCells.ts'
import type { Box } from '../../shared/box.ts'
import { proposable, type LabelPlan } from './labelPlan.ts'
import { projectFromReview } from './settings.ts'

/** Meta key of the model learned from reviews (JSON, see StoredReviewModel). */
export const REVIEW_MODEL_META = 'review_model'

/** Reviewed images with boxes needed before proposals learn from them (one to train, one to check). */
export const MIN_REVIEWED = 2

/** The model learned from reviews, as proposals use it and the user sees it. */
export interface ReviewModel {
  /** Fingerprint of what it was learned from (the runs it made carry it). */
  key: string
  head: ObjectnessHead
  /** Reviewed images it learned from, and how many of them have boxes. */
  reviewed: number
  boxed: number
  /** Box quality on held-out reviewed images (k-fold by image). */
  validation?: ObjectnessValidation
  /** Milliseconds of the fit of the update that made it. */
  fitMs: number
  updatedAt: number
}

interface StoredReviewModel extends Omit<ReviewModel, 'head'> {
  featureKey: string
  head: Omit<ObjectnessHead, 'weights'> & { weights: number[] }
  folds: { weights: number[]; bias: number }[]
  foldImages: number
  held: HeldScores[]
}

const toStored = (w: Float32Array) => Array.from(w)

/** The project's model learned from reviews for this feature key, if it has one. */
export function storedReviewModel(
  store: Pick<ProjectStore, 'getMeta'>,
  featureKey?: string,
): (ReviewModel & { previous: ObjectnessFit }) | undefined {
  const raw = store.getMeta(REVIEW_MODEL_META)
  if (!raw) return undefined
  const s = JSON.parse(raw) as StoredReviewModel
  if (featureKey !== undefined && s.featureKey !== featureKey) return undefined
  const head = { ...s.head, weights: Float32Array.from(s.head.weights) }
  return {
    key: s.key,
    head,
    reviewed: s.reviewed,
    boxed: s.boxed,
    ...(s.validation ? { validation: s.validation } : {}),
    fitMs: s.fitMs,
    updatedAt: s.updatedAt,
    previous: {
      head,
      folds: s.folds.map((f) => ({ weights: Float32Array.from(f.weights), bias: f.bias })),
      foldImages: s.foldImages,
      held: s.held ?? [],
    },
  }
}

/** What learnFromReview did. */
export interface ReviewLearning {
  /** The model proposals use now; undefined: plain CAMs (too few reviews, or switched off). */
  model?: ReviewModel
  /** True when this call fitted it (false: the stored one was current). */
  updated: boolean
  /** Reviewed images whose cells this call computed. */
  extracted: number
  /** Why there is no model, when there is none. */
  reason?: string
}

export interface LearnFromReviewOptions {
  model: ModelIdentity
  featureKey: string
  plan: LabelPlan
  proposal: ProposalOptions
  /** Real paths of the usable images (checkImages). */
  paths: ReadonlyMap<number, string>
  worker: InferenceWorker
  providers?: ProviderChoice
  signal?: AbortSignal
  report?: Report
}

const sha1 = (text: string) => createHash('sha1').update(text).digest('hex')

/**
 * Cells kept per image in its sample pool: an update with at least maxCells / POOL_CELLS reviewed
 * images (500) samples this many or fewer per image, and reads only the pools.
 */
const POOL_CELLS = 16

/** The kept boxes of a reviewed image, as text (they decide its cells' targets). */
function boxesKey(r: ReviewedRow): string {
  return r.boxes
    .map(
      (b) =>
        `${b.label} ${b.box.x0.toFixed(1)} ${b.box.y0.toFixed(1)} ${b.box.x1.toFixed(1)} ${b.box.y1.toFixed(1)}`,
    )
    .join(';')
}

/** The labels whose CAMs a reviewed image needs: its labels and its boxes' classes. */
function camLabels(row: ReviewedRow, plan: LabelPlan): string[] {
  return proposable([...new Set([...row.labels, ...row.boxes.map((b) => b.label)])]).filter((l) =>
    plan.sources.has(l),
  )
}

/** The fold-stable scoring set: FIT_IMAGES boxed images by a hash of their id (not by age). */
function scoringIds(rows: readonly ReviewedRow[]): Set<number> {
  const rank = (id: number) => Math.imul(id, 0x85ebca6b) >>> 0
  return new Set(
    rows
      .filter((r) => r.boxes.length > 0)
      .map((r) => r.id)
      .sort((a, b) => rank(a) - rank(b))
      .slice(0, FIT_IMAGES),
  )
}

/**
 * Brings the project's model learned from reviews up to date (see the module comment): nothing
 * is fitted when the reviewed boxes are those it was learned from. Fewer than MIN_REVIEWED boxed
 * reviewed images: no model (proposals are plain CAMs, as before any review).
 */
export async function learnFromReview(
  store: ProjectStore,
  options: LearnFromReviewOptions,
): Promise<ReviewLearning> {
  const { plan, proposal, worker, signal } = options
  const rows = store.reviewCells.reviewed().filter((r) => options.paths.has(r.id))
  const boxed = rows.filter((r) => r.boxes.length > 0).length
  if (boxed < MIN_REVIEWED) {
    store.setMeta(REVIEW_MODEL_META, '')
    return {
      updated: false,
      extracted: 0,
      reason: `${boxed} reviewed image${boxed === 1 ? '' : 's'} with boxes: proposals learn from reviews once ${MIN_REVIEWED} are reviewed`,
    }
  }
  // The cells depend on the model and on each label's CAM source (a retrained head changes them).
  const cellsKey = `${options.featureKey}|${sha1([...plan.keys].sort().join('\n')).slice(0, 16)}`
  const key =
    'sha1:' +
    sha1(
      [
        cellsKey,
        proposal.workingSize,
        ...rows.map((r) => `${r.id}\t${r.hash}\t${boxesKey(r)}`),
      ].join('\n'),
    )
  const stored = storedReviewModel(store, options.featureKey)
  if (stored?.key === key) return { model: stored, updated: false, extracted: 0 }

  // Cells of reviewed images not cached yet: one forward pass each, in the worker.
  const cached = store.reviewCells.cachedIds(cellsKey)
  const missing = rows.filter((r) => !cached.has(r.id))
  let extracted = 0
  const withCells = new Set(cached)
  if (missing.length > 0) {
    options.report?.({
      type: 'progress',
      stage: 'review-cells',
      done: 0,
      total: missing.length,
      failed: 0,
    })
    const byKey = new Map(missing.map((r) => [String(r.id), r]))
    let done = 0
    for await (const r of worker.features(
      missing.map((m) => ({
        key: String(m.id),
        path: options.paths.get(m.id)!,
        labels: camLabels(m, plan),
      })),
      {
        model: options.model,
        providers: options.providers ?? 'auto',
        cells: plan.sources,
        ...(signal ? { signal } : {}),
      },
    )) {
      const row = byKey.get(r.key)!
      if (r.maps && r.cams) {
        store.reviewCells.save(cellsKey, row.id, row.hash, {
          features: r.maps,
          cams: new Map(r.cams.map((c) => [c.label, c.cam])),
        })
        withCells.add(row.id)
        extracted++
      }
      done++
      options.report?.({
        type: 'progress',
        stage: 'review-cells',
        done,
        total: missing.length,
        failed: done - extracted,
      })
    }
  }
  store.reviewCells.prune(cellsKey)

  // Training cells of every reviewed image (a budget per image that shrinks as they grow, so the
  // update's cost stays flat), and the full maps of the scoring set only.
  const scoring = scoringIds(rows)
  const budget = cellBudget(rows.length)
  // While the fold heads are kept, a scoring image already scored with its boxes as they are now
  // keeps its held-out scores: it is sampled like any other, not sent whole to the worker.
  const reviewed = rows.filter((r) => withCells.has(r.id)).length
  const keep = keepsFolds(stored?.previous, reviewed, foldCount(scoring.size))
  const known = new Map(keep ? stored!.previous.held.map((h) => [h.id, h]) : [])
  const reuse: HeldScores[] = []
  // Held-out scores depend on the boxes and on the labels' CAMs (their sources are in cellsKey).
  const versionOf = (r: ReviewedRow) => `${cellsKey}|${boxesKey(r)}`
  let builder: CellSampleBuilder | undefined
  const images: ReviewedImage[] = []
  for (const r of rows) {
    const im = {
      id: r.id,
      boxes: r.boxes.map((b) => b.box),
      width: r.width,
      height: r.height,
    }
    const scored = known.get(r.id)
    const rescore = scoring.has(r.id) && scored?.version !== versionOf(r)
    if (scoring.has(r.id) && !rescore) reuse.push(scored!)
    if (!rescore && budget <= POOL_CELLS) {
      // Many reviews: a few cells of this image, from its pool (no full map read).
      const pooled = store.reviewCells.pool(cellsKey, r.id)
      if (!pooled) continue
      builder ??= new CellSampleBuilder(pooled.channels, rows.length * budget)
      const picked = imageCells({ ...im, features: pooled }, budget)
      const poolKey = boxesKey(r)
      const fromPool =
        pooled.pool?.key === poolKey
          ? poolRows(pooled.pool, pooled.channels, picked.cells)
          : undefined
      if (fromPool) {
        builder.addRows(r.id, fromPool, picked.targets)
        continue
      }
      const encoded = store.reviewCells.get(cellsKey, r.id)!
      const pool = imageCells({ ...im, features: pooled }, POOL_CELLS)
      store.reviewCells.savePool(cellsKey, r.id, poolKey, pool, decodeRows(encoded, pool.cells))
      builder.addRows(r.id, decodeRows(encoded, picked.cells), picked.targets)
      continue
    }
    const encoded = store.reviewCells.get(cellsKey, r.id)
    if (!encoded) continue
    builder ??= new CellSampleBuilder(encoded.channels, rows.length * budget)
    const picked = imageCells({ ...im, features: encoded }, budget)
    if (!rescore) {
      builder.addRows(r.id, decodeRows(encoded, picked.cells), picked.targets)
      continue
    }
    const features = decodeFeatures(encoded)
    builder.add({ ...im, features }, picked)
    const boxesByLabel = new Map<string, Box[]>()
    for (const b of r.boxes)
      boxesByLabel.set(b.label, [...(boxesByLabel.get(b.label) ?? []), b.box])
    images.push({ ...im, features, cams: decodeCams(encoded), boxesByLabel, version: versionOf(r) })
  }
  if (!builder) return { updated: false, extracted, reason: 'No reviewed image could be read' }
  const samples = builder.done()
  const started = performance.now()
  const fit = await worker.fit(
    samples,
    images,
    proposal,
    { boxed: scoring.size, held: reuse, ...(stored ? { previous: stored.previous } : {}) },
    signal,
  )
  const fitMs = performance.now() - started
  if (!fit) {
    store.setMeta(REVIEW_MODEL_META, '')
    return { updated: false, extracted, reason: 'The reviewed boxes hold no object to learn from' }
  }
  const model: ReviewModel = {
    key,
    head: fit.head,
    reviewed: new Set(samples.image).size,
    boxed,
    ...(fit.validation ? { validation: fit.validation } : {}),
    fitMs,
    updatedAt: Date.now(),
  }
  const record: StoredReviewModel = {
    ...model,
    featureKey: options.featureKey,
    head: { ...fit.head, weights: toStored(fit.head.weights) },
    // Fold heads by fold number; a missing one (a fold without positives) refits them all next time.
    folds: Array.from(fit.folds).every((f) => f !== undefined)
      ? fit.folds.map((f) => ({ weights: toStored(f.weights), bias: f.bias }))
      : [],
    foldImages: fit.foldImages,
    held: fit.held,
  }
  store.setMeta(REVIEW_MODEL_META, JSON.stringify(record))
  return { model, updated: true, extracted }
}

/** "learned from N reviewed images (…held-out check…)": how the CLI, status and the app say it. */
export function describeReviewModel(model: Omit<ReviewModel, 'head' | 'key'>): string {
  const v = model.validation
  const pct = (x: number) => `${Math.round(x * 100)}%`
  const check = v
    ? `; checked on ${v.images} held-out reviewed boxes: ${pct(v.acc05)} found at IoU ≥ 0.5, ${pct(v.acc07)} at ≥ 0.7, mean IoU ${v.meanIou.toFixed(2)}`
    : ''
  return `learned from ${model.reviewed} reviewed image${model.reviewed === 1 ? '' : 's'}${check}`
}

/** Where learning from reviews stands in a project, for `camlabel status` and the app. */
export interface ReviewLearningStatus {
  enabled: boolean
  /** Reviewed (or imported) images with boxes. */
  boxed: number
  model?: Omit<ReviewModel, 'head' | 'key'>
  /** One line that says it. */
  text: string
}

export function reviewLearningStatus(store: ProjectStore): ReviewLearningStatus {
  const enabled = projectFromReview(store) === 'auto'
  const boxed = store.reviewCells.boxedCount()
  const stored = enabled ? storedReviewModel(store) : undefined
  const model = stored
    ? {
        reviewed: stored.reviewed,
        boxed: stored.boxed,
        fitMs: stored.fitMs,
        updatedAt: stored.updatedAt,
        ...(stored.validation ? { validation: stored.validation } : {}),
      }
    : undefined
  const text = !enabled
    ? 'off: proposals are plain CAMs'
    : model
      ? describeReviewModel(model) +
        (boxed !== model.boxed ? ` (${boxed} now: the next proposal run updates it)` : '')
      : boxed < MIN_REVIEWED
        ? `on: starts once ${MIN_REVIEWED} images with boxes are reviewed (${boxed} so far)`
        : 'on: the next proposal run learns from the reviewed boxes'
  return { enabled, boxed, ...(model ? { model } : {}), text }
}
