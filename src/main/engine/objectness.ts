/**
 * Learning from reviewed boxes: a logistic "objectness" head over the backbone's feature cells
 * (the feature tensor the CAM and the learned heads use), trained with each reviewed image's cells
 * as examples — the fraction of a cell inside the image's reviewed boxes is its target — and
 * class-balanced. For an image not reviewed yet, the label's map becomes the geometric mean of the
 * head's probability and the label's normalised CAM: the CAM says which object, the head says where
 * objects like the reviewed ones are and where they end. The box level of that map is chosen on
 * the reviewed images. Pure: the caller brings features, CAMs and boxes.
 */
import { iou, type Box } from '../../shared/box.ts'
import { proposalsFromMap } from '../../shared/cam/boxes.ts'
import { normaliseByMax, upscaleForBoxes } from '../../shared/cam/proposals.ts'
import type { Map2D, ProposalOptions } from '../../shared/cam/types.ts'
import { minimizeLbfgs } from './lbfgs.ts'
import type { FeatureMaps } from './types.ts'

/** The head, with the box level chosen for its maps. */
export interface ObjectnessHead {
  /** One weight per feature channel, on the raw features (standardisation folded in). */
  weights: Float32Array
  bias: number
  /** The level (fraction of the combined map's max) boxes are cut at. */
  level: number
  /** The CAM's exponent in the combined map (the head's is 1 − alpha): 0.5 is the geometric mean. */
  alpha: number
}

/** One reviewed image as training sees it. */
export interface ReviewedImage {
  /** A stable id (the project's image id): it puts the image in the same fold every time. */
  id: number
  /** Its feature cells, [C, h, w]. */
  features: FeatureMaps
  /** The kept boxes (displayed pixels); none for a reviewed negative. */
  boxes: Box[]
  width: number
  height: number
  /** Its labels' normalised CAMs (for choosing the level), by label. */
  cams: Map<string, Map2D>
  /** Kept boxes per label (for choosing the level). */
  boxesByLabel: Map<string, Box[]>
  /** What its boxes are (any text that changes with them): its cached held-out scores' key. */
  version?: string
}

/** Options of trainObjectness. */
export interface ObjectnessOptions {
  /** L2 penalty on the (standardised) weights. */
  lambda?: number
  /** Cells used per image at most (default all 169 of a 13×13 map): half positive where it can. */
  cellsPerImage?: number
  /** Cells used in all at most (default 8 000: the update's time is linear in it). */
  maxCells?: number
  maxIterations?: number
  signal?: AbortSignal
  /**
   * Weights to start from (the previous update's): one more reviewed image moves the optimum a
   * little, so a warm start converges in a few iterations.
   */
  start?: Pick<ObjectnessHead, 'weights' | 'bias'>
}

/**
 * The fraction of each feature cell covered by the union of `boxes`, [h × w] row-major. The
 * network sees the image resized to its input without keeping the aspect ratio, so cell (x, y)
 * covers [x·W/w, (x+1)·W/w) × [y·H/h, (y+1)·H/h) of the displayed image.
 */
export function cellCoverage(
  boxes: readonly Box[],
  width: number,
  height: number,
  w: number,
  h: number,
): Float32Array {
  const out = new Float32Array(w * h)
  if (boxes.length === 0) return out
  // 4×4 samples per cell: a cell a box half covers gets 0.5 within 1/16.
  const S = 4
  for (let cy = 0; cy < h; cy++)
    for (let cx = 0; cx < w; cx++) {
      let inside = 0
      for (let sy = 0; sy < S; sy++)
        for (let sx = 0; sx < S; sx++) {
          const x = ((cx + (sx + 0.5) / S) * width) / w
          const y = ((cy + (sy + 0.5) / S) * height) / h
          if (boxes.some((b) => x >= b.x0 && x < b.x1 && y >= b.y0 && y < b.y1)) inside++
        }
      out[cy * w + cx] = inside / (S * S)
    }
  return out
}

/** A deterministic sequence in [0, 1) (mulberry32), so a training set is the same every time. */
function random(seed: number): () => number {
  let s = seed >>> 0
  return () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Training cells: features [n × C] row-major, soft targets, and the image of each row. */
export interface CellSamples {
  x: Float32Array
  t: Float32Array
  /** The id of each row's image (folds are made by image). */
  image: Int32Array
  n: number
  channels: number
}

/** Cells per image for `images` reviewed images (all 169 of a 13×13 map for a few of them). */
export function cellBudget(
  images: number,
  options: Pick<ObjectnessOptions, 'cellsPerImage' | 'maxCells'> = {},
): number {
  return Math.max(
    8,
    Math.min(
      options.cellsPerImage ?? 169,
      Math.floor((options.maxCells ?? 8_000) / Math.max(1, images)),
    ),
  )
}

/**
 * One image's training cells: up to `budget`, half of them positive (covered ≥ 0.5 by its boxes)
 * where it has that many. Seeded by the image's id, so an image gives the same cells in every
 * update (a warm start then starts next to the new optimum).
 */
export function imageCells(
  im: Pick<ReviewedImage, 'id' | 'boxes' | 'width' | 'height'> & {
    features: Pick<FeatureMaps, 'width' | 'height'>
  },
  budget: number,
): { cells: number[]; targets: number[] } {
  const rand = random(im.id)
  const { width: w, height: h } = im.features
  const cover = cellCoverage(im.boxes, im.width, im.height, w, h)
  const pos: number[] = []
  const neg: number[] = []
  for (let i = 0; i < w * h; i++) (cover[i]! >= 0.5 ? pos : neg).push(i)
  for (const list of [pos, neg])
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1))
      ;[list[i], list[j]] = [list[j]!, list[i]!]
    }
  const nPos = Math.min(pos.length, Math.floor(budget / 2))
  const nNeg = Math.min(neg.length, budget - nPos)
  const cells = [...pos.slice(0, nPos), ...neg.slice(0, nNeg)]
  return { cells, targets: cells.map((c) => cover[c]!) }
}

/** The training cells of `images` (see imageCells), gathered into one sample set. */
export function sampleCells(
  images: readonly Pick<ReviewedImage, 'id' | 'features' | 'boxes' | 'width' | 'height'>[],
  options: Pick<ObjectnessOptions, 'cellsPerImage' | 'maxCells'> = {},
): CellSamples {
  const budget = cellBudget(images.length, options)
  const builder = new CellSampleBuilder(images[0]?.features.channels ?? 0, images.length * budget)
  for (const im of images) builder.add(im, budget)
  return builder.done()
}

/** Gathers training cells image by image, so the caller never holds every image's features. */
export class CellSampleBuilder {
  private x: Float32Array
  private t: Float32Array
  private image: Int32Array
  private n = 0

  constructor(
    readonly channels: number,
    capacity: number,
  ) {
    this.x = new Float32Array(capacity * channels)
    this.t = new Float32Array(capacity)
    this.image = new Int32Array(capacity)
  }

  /** Adds an image's cells: `budget` of them (imageCells), or those already `picked` by it. */
  add(
    im: Pick<ReviewedImage, 'id' | 'features' | 'boxes' | 'width' | 'height'>,
    budget: number | { cells: number[]; targets: number[] },
  ): void {
    const { cells, targets } = typeof budget === 'number' ? imageCells(im, budget) : budget
    const plane = im.features.width * im.features.height
    const C = this.channels
    for (let k = 0; k < cells.length && this.n < this.t.length; k++) {
      const r = this.n++
      for (let c = 0; c < C; c++) this.x[r * C + c] = im.features.data[c * plane + cells[k]!]!
      this.t[r] = targets[k]!
      this.image[r] = im.id
    }
  }

  /** Adds cells already gathered: `rows` [k × C] row-major with their targets. */
  addRows(id: number, rows: Float32Array, targets: readonly number[]): void {
    const C = this.channels
    for (let k = 0; k < targets.length && this.n < this.t.length; k++) {
      const r = this.n++
      this.x.set(rows.subarray(k * C, (k + 1) * C), r * C)
      this.t[r] = targets[k]!
      this.image[r] = id
    }
  }

  done(): CellSamples {
    const n = this.n
    return {
      x: this.x.subarray(0, n * this.channels),
      t: this.t.subarray(0, n),
      image: this.image.subarray(0, n),
      n,
      channels: this.channels,
    }
  }
}

/** The rows of `samples` whose image passes `keep`. */
function rowsOf(samples: CellSamples, keep: (image: number) => boolean): CellSamples {
  const C = samples.channels
  const rows: number[] = []
  for (let i = 0; i < samples.n; i++) if (keep(samples.image[i]!)) rows.push(i)
  const x = new Float32Array(rows.length * C)
  const t = new Float32Array(rows.length)
  const image = new Int32Array(rows.length)
  rows.forEach((r, k) => {
    x.set(samples.x.subarray(r * C, (r + 1) * C), k * C)
    t[k] = samples.t[r]!
    image[k] = samples.image[r]!
  })
  return { x, t, image, n: rows.length, channels: C }
}

/**
 * Trains the head's weights on sampled cells (logistic regression with soft targets, class
 * balanced, L2 on standardised features, L-BFGS); fitObjectness sets its level.
 * @returns undefined when the cells hold no positive (nothing reviewed as an object)
 */
export function trainObjectness(
  samples: CellSamples,
  options: ObjectnessOptions = {},
): Pick<ObjectnessHead, 'weights' | 'bias'> | undefined {
  const { x, t, n, channels: C } = samples
  if (n === 0) return undefined
  let positive = 0
  for (let i = 0; i < n; i++) positive += t[i]!
  if (positive < 1 || positive > n - 1) return undefined
  // Standardise each channel (features are ReLU outputs of very different scales).
  const mean = new Float64Array(C)
  const sd = new Float64Array(C)
  for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) mean[c]! += x[i * C + c]!
  for (let c = 0; c < C; c++) mean[c]! /= n
  for (let i = 0; i < n; i++) for (let c = 0; c < C; c++) sd[c]! += (x[i * C + c]! - mean[c]!) ** 2
  for (let c = 0; c < C; c++) sd[c] = Math.sqrt(sd[c]! / n) || 1
  // Channel-major (z[c·n + i]): both passes below are then contiguous vector loops.
  const z = new Float64Array(n * C)
  for (let i = 0; i < n; i++)
    for (let c = 0; c < C; c++) z[c * n + i] = (x[i * C + c]! - mean[c]!) / sd[c]!
  // Class balance: the positive and the negative mass weigh the same.
  const wPos = n / (2 * positive)
  const wNeg = n / (2 * (n - positive))
  const lambda = options.lambda ?? 1e-2
  const a = new Float64Array(n)
  const s = new Float64Array(n)
  const objective = (p: Float64Array, grad: Float64Array): number => {
    a.fill(p[C]!)
    for (let c = 0; c < C; c++) {
      const pc = p[c]!
      if (pc === 0) continue
      const off = c * n
      for (let i = 0; i < n; i++) a[i]! += pc * z[off + i]!
    }
    let loss = 0
    let gb = 0
    for (let i = 0; i < n; i++) {
      const ai = a[i]!
      const ti = t[i]!
      const weight = ti * wPos + (1 - ti) * wNeg
      // log(1 + e^a) computed stably; cross-entropy with a soft target.
      const softplus = ai > 0 ? ai + Math.log1p(Math.exp(-ai)) : Math.log1p(Math.exp(ai))
      loss += weight * (softplus - ti * ai)
      const g = weight * (1 / (1 + Math.exp(-ai)) - ti)
      s[i] = g
      gb += g
    }
    let reg = 0
    for (let c = 0; c < C; c++) {
      const off = c * n
      let dot = 0
      for (let i = 0; i < n; i++) dot += s[i]! * z[off + i]!
      grad[c] = dot / n + lambda * p[c]!
      reg += p[c]! * p[c]!
    }
    grad[C] = gb / n
    return loss / n + 0.5 * lambda * reg
  }
  // The start, in the standardised space: w_z = w·σ, b_z = b + Σ w μ.
  const x0 = new Float64Array(C + 1)
  if (options.start && options.start.weights.length === C) {
    let b = options.start.bias
    for (let c = 0; c < C; c++) {
      x0[c] = options.start.weights[c]! * sd[c]!
      b += options.start.weights[c]! * mean[c]!
    }
    x0[C] = b
  }
  const result = minimizeLbfgs(objective, x0, {
    maxIterations: options.maxIterations ?? 50,
    gradientTolerance: 1e-4,
    ...(options.signal ? { signal: options.signal } : {}),
  })
  // Fold the standardisation into the weights: w·(f − μ)/σ + b = (w/σ)·f + (b − Σ w μ/σ).
  const weights = new Float32Array(C)
  let bias = result.x[C]!
  for (let c = 0; c < C; c++) {
    weights[c] = result.x[c]! / sd[c]!
    bias -= (result.x[c]! * mean[c]!) / sd[c]!
  }
  return { weights, bias }
}

/** The head's probability per feature cell, [h × w]. */
export function objectnessMap(
  features: FeatureMaps,
  head: Pick<ObjectnessHead, 'weights' | 'bias'>,
): Map2D {
  const { data, channels: C, width: w, height: h } = features
  const plane = w * h
  const out = new Float32Array(plane)
  for (let i = 0; i < plane; i++) {
    let a = head.bias
    for (let c = 0; c < C; c++) a += head.weights[c]! * data[c * plane + i]!
    out[i] = 1 / (1 + Math.exp(-a))
  }
  return { data: out, width: w, height: h }
}

/**
 * The map a label's boxes come from: the weighted geometric mean cam^α · p^(1−α) of its normalised
 * CAM and the objectness probability (at the CAM's size when they differ), divided by its max.
 */
export function combineMaps(cam: Map2D, objectness: Map2D, alpha = 0.5): Map2D {
  const obj =
    objectness.width === cam.width && objectness.height === cam.height
      ? objectness
      : upscaleForBoxes(objectness, cam.width, cam.height, Math.max(cam.width, cam.height))
  const data = new Float32Array(cam.data.length)
  for (let i = 0; i < data.length; i++)
    data[i] = Math.max(0, cam.data[i]!) ** alpha * obj.data[i]! ** (1 - alpha)
  return normaliseByMax({ data, width: cam.width, height: cam.height })
}

/** Working size of the level search (see fitObjectness). */
const LEVEL_SIZE = 96
/** Reviewed images the level is chosen on, at most (the caller passes that many). */
export const FIT_IMAGES = 100
/** Fold heads are trained again once the reviewed images grew by this factor since they were. */
const REFOLD_GROWTH = 1.25

/** The levels and CAM exponents fitObjectness tries. */
const LEVELS = Array.from({ length: 13 }, (_, i) => Math.round((0.15 + i * 0.05) * 100) / 100)
const ALPHAS = [0.4] as const

/** Box quality of a head on images it was not trained on. */
export interface ObjectnessValidation {
  /** (Image, label) pairs with reviewed boxes, held out across the folds. */
  images: number
  acc05: number
  acc07: number
  meanIou: number
}

/** A fitted head and how it did on held-out reviewed images. */
export interface ObjectnessFit {
  head: ObjectnessHead
  /** The fold heads (the next update starts from them). */
  folds: Pick<ObjectnessHead, 'weights' | 'bias'>[]
  /** How many reviewed images the fold heads were trained on. */
  foldImages: number
  /** Undefined with fewer than two boxed images (nothing to hold out). */
  validation?: ObjectnessValidation
  /** Each scored image's held-out scores by its fold head (reused while the fold heads are kept). */
  held: HeldScores[]
}

/** One image's held-out scores: per label with boxes, the best IoU at each [alpha][level]. */
export interface HeldScores {
  id: number
  version: string
  scores: number[][][]
}

/** Options of fitObjectness. */
export type FitOptions = Omit<ObjectnessOptions, 'start'> & {
  folds?: number
  /**
   * The previous update's fit: the head starts from it, and its fold heads are kept while
   * keepsFolds says so (an image added since is held out by the fold it belongs to, which has not
   * seen it: its held-out map stays honest).
   */
  previous?: Pick<ObjectnessFit, 'head' | 'folds' | 'foldImages'>
  /**
   * Boxed images of the scoring set, the ones in `held` included (default: those of `images`):
   * it sets the number of folds.
   */
  boxed?: number
  /**
   * Held-out scores of scoring images left out of `images` because the previous fit scored them
   * with the fold heads kept now (see keepsFolds); ignored when the folds are trained again.
   */
  held?: HeldScores[]
}

/**
 * Whether a fit keeps the previous fit's fold heads: same number of folds, and the reviewed
 * images grew by less than REFOLD_GROWTH since those heads were trained. A caller that knows it
 * (the same `reviewed` and `folds`) can skip sending the images whose held-out scores it has.
 */
export function keepsFolds(
  previous: Pick<ObjectnessFit, 'folds' | 'foldImages'> | undefined,
  reviewed: number,
  folds: number,
): boolean {
  return (
    previous !== undefined &&
    previous.folds.length === folds &&
    reviewed < previous.foldImages * REFOLD_GROWTH
  )
}

/** The number of folds for `boxed` scoring images. */
export function foldCount(boxed: number, folds = 3): number {
  return Math.min(folds, boxed)
}

/** The fold of an image, from its id (a multiplicative hash: folds mix ids from everywhere). */
function foldOf(id: number, folds: number): number {
  return (Math.imul(id, 0x9e3779b1) >>> 0) % folds
}

/** Best IoU of the main box at each (alpha, level) of one held-out (image, label). */
function gridScores(
  cam: Map2D,
  obj: Map2D,
  truth: readonly Box[],
  im: Pick<ReviewedImage, 'width' | 'height'>,
  proposal: ProposalOptions,
): number[][] {
  const size = Math.min(proposal.workingSize, LEVEL_SIZE)
  return ALPHAS.map((alpha) => {
    const map = upscaleForBoxes(combineMaps(cam, obj, alpha), im.width, im.height, size)
    return LEVELS.map((level) => {
      const main = proposalsFromMap(
        map,
        { ...proposal, threshold: level, workingSize: size, maxExtra: 0 },
        im.width,
        im.height,
      )[0]
      return main ? Math.max(...truth.map((t) => iou(t, main.box))) : 0
    })
  })
}

/**
 * Fits the head on the reviewed images' sampled cells: k-fold by image, each fold's head trained on
 * the other folds' cells and scored on its own `images` (at most FIT_IMAGES, see the caller) at
 * every CAM exponent and box level; the pair
 * with the best held-out mean IoU is kept, and the held-out scores at it are the validation. The
 * head itself is trained on all the cells. Choosing on held-out maps matters: a head's maps
 * of its own training images are sharper than those of new ones, and so favour too low a level.
 * @returns undefined when no image has a reviewed box
 */
export function fitObjectness(
  samples: CellSamples,
  /** Reviewed images with their features, CAMs and boxes: the held-out scoring set. */
  images: readonly ReviewedImage[],
  proposal: ProposalOptions,
  options: FitOptions = {},
): ObjectnessFit | undefined {
  const { previous, ...train } = options
  const weights = trainObjectness(samples, {
    ...train,
    ...(previous ? { start: previous.head } : {}),
  })
  if (!weights) return undefined
  const isBoxed = (im: ReviewedImage) => [...im.boxesByLabel.values()].some((b) => b.length)
  const folds = foldCount(options.boxed ?? images.filter(isBoxed).length, options.folds)
  const reviewed = new Set(samples.image).size
  const keepFolds = keepsFolds(previous, reviewed, folds)
  const scored: HeldScores[] = keepFolds ? [...(options.held ?? [])] : []
  const foldHeads: Pick<ObjectnessHead, 'weights' | 'bias'>[] = []
  for (let f = 0; f < folds; f++) {
    const start = previous?.folds[f]
    const foldHead =
      keepFolds && start
        ? start
        : trainObjectness(
            rowsOf(samples, (id) => foldOf(id, folds) !== f),
            { ...train, ...(start ? { start } : {}) },
          )
    if (!foldHead) continue
    foldHeads[f] = foldHead
    images.forEach((im) => {
      if (foldOf(im.id, folds) !== f) return
      const obj = objectnessMap(im.features, foldHead)
      const scores: number[][][] = []
      for (const [label, truth] of im.boxesByLabel) {
        const cam = im.cams.get(label)
        if (cam && truth.length) scores.push(gridScores(cam, obj, truth, im, proposal))
      }
      scored.push({ id: im.id, version: im.version ?? '', scores })
    })
  }
  const held = scored.flatMap((h) => h.scores)
  if (held.length === 0)
    return {
      head: { ...weights, level: proposal.threshold, alpha: 0.5 },
      folds: foldHeads,
      foldImages: reviewed,
      held: scored,
    }
  let best = { a: 1, l: 0, mean: -1 }
  ALPHAS.forEach((_, a) =>
    LEVELS.forEach((_, l) => {
      const mean = held.reduce((s, g) => s + g[a]![l]!, 0) / held.length
      if (mean > best.mean) best = { a, l, mean }
    }),
  )
  const at = held.map((g) => g[best.a]![best.l]!)
  return {
    head: { ...weights, level: LEVELS[best.l]!, alpha: ALPHAS[best.a]! },
    folds: foldHeads,
    foldImages: keepFolds ? previous!.foldImages : reviewed,
    held: scored,
    validation: {
      images: at.length,
      acc05: at.filter((v) => v >= 0.5).length / at.length,
      acc07: at.filter((v) => v >= 0.7).length / at.length,
      meanIou: best.mean,
    },
  }
}
