/**
 * Learned CAM heads (Zhou et al. 2016, section 3.3): a linear classifier trained on the network's
 * globally-average-pooled features using only the image labels. Because pooling is linear, the
 * classifier's weights over the pooled features are also weights over the feature maps, so the CAM
 * of a learned class is Σ_k w_k F_k, exactly as for the model's own classes.
 *
 * Softmax regression when every image has one label, one-vs-rest logistic regression when images
 * have several (or none: an image without labels is a negative for every class). L2-regularised,
 * on standardised features, minimised by a deterministic L-BFGS: the same samples give bit-identical
 * weights. The quality report (k-fold cross-validation with deterministic, stratified folds) says
 * honestly how well each class can be told apart. Pure: typed arrays and plain objects only.
 */
import { CamlabelError, invalidParameter } from '../../shared/errors.ts'
import { isBackgroundLabel } from '../../shared/labels.ts'
import { minimizeLbfgs } from './lbfgs.ts'

/** One training image: its pooled features and its labels. */
export interface HeadSample {
  features: Float32Array
  labels: string[]
}

export type HeadKind = 'softmax' | 'ovr'

export interface TrainHeadOptions {
  /** `auto` (default): softmax when every image has exactly one label, one-vs-rest otherwise. */
  mode?: 'auto' | HeadKind
  /** L2 strength on the standardised weights (objective: mean loss + λ/2·‖W‖²). */
  lambda?: number
  /** Folds of the cross-validation in the quality report (default 5; 0 or 1: none). */
  folds?: number
  /** Classes with fewer images than this get a warning (default 5). */
  minImages?: number
  maxIterations?: number
  gradientTolerance?: number
  signal?: AbortSignal
}

/** One class of a learned head, with weights over the RAW (un-standardised) pooled features. */
export interface LearnedClass {
  name: string
  /** A negative class ("background", any case): trained, never proposed. */
  background: boolean
  weights: Float32Array
  bias: number
  images: number
}

/** What cross-validation says about one class. */
export interface ClassQuality {
  name: string
  background: boolean
  images: number
  /** Of this class's held-out images, the fraction recognised; null without cross-validation. */
  cvAccuracy: number | null
  /** Of the other held-out images, the fraction wrongly taken for this class; null without CV. */
  cvFalsePositiveRate: number | null
  warning?: string
}

export interface HeadQuality {
  images: number
  folds: number
  /** Softmax: top-1 accuracy; one-vs-rest: fraction of images whose predicted label set is exact. */
  cvAccuracy: number | null
  classes: ClassQuality[]
  warnings: string[]
  /** False when there is nothing to discriminate (one class, no negatives): use the agnostic CAM. */
  usable: boolean
}

export interface LearnedHead {
  version: 1
  mode: HeadKind
  lambda: number
  numFeatures: number
  classes: LearnedClass[]
  quality: HeadQuality
  iterations: number
  converged: boolean
}

/** A learned class's CAM source, the pipeline's `{ kind: 'learned' }` LabelSource. */
export interface LearnedSource {
  kind: 'learned'
  weights: Float32Array
  bias: number
}

export const DEFAULT_HEAD_LAMBDA = 0.01
const DEFAULT_FOLDS = 5
const DEFAULT_MIN_IMAGES = 5
const CV_GRADIENT_TOLERANCE = 1e-4

/** The warning for a training set with a single class and no negatives. */
export function oneClassWarning(label: string): string {
  return (
    `Only one class ('${label}'): nothing to discriminate against. Add images of other content as ` +
    `negatives (e.g. a 'background' label or folder); the class-agnostic CAM stays in use.`
  )
}

/** A training set in matrix form: X is n × dim, row-major; Y is n × C targets in 0..1. */
interface Problem {
  X: Float64Array
  n: number
  dim: number
  Y: Float64Array
  classes: number
  kind: HeadKind
}

interface Fit {
  /** C × D weights over the raw features, and C biases, in float64. */
  weights: Float64Array
  bias: Float64Array
  iterations: number
  converged: boolean
}

/**
 * Trains a head on the samples' pooled features. Throws INVALID_ARGUMENT for no samples, feature
 * vectors of different lengths, or non-finite values; a class with too few images or a single class
 * are not errors but warnings in `quality` (a single class without negatives gives `usable: false`).
 */
export function trainHead(
  samples: readonly HeadSample[],
  options: TrainHeadOptions = {},
): LearnedHead {
  const lambda = options.lambda ?? DEFAULT_HEAD_LAMBDA
  if (!(lambda > 0) || !Number.isFinite(lambda))
    throw invalidParameter('lambda', 'a number > 0', lambda)
  const minImages = options.minImages ?? DEFAULT_MIN_IMAGES
  const { names, labelSets, numFeatures } = checkSamples(samples)
  const kind = chooseKind(labelSets, options.mode ?? 'auto')
  const counts = names.map((_, c) => labelSets.filter((s) => s.includes(c)).length)
  const background = names.map(isBackgroundLabel)
  const unlabelled = labelSets.filter((s) => s.length === 0).length

  const warnings: string[] = []
  const classWarnings = new Map<number, string>()
  names.forEach((name, c) => {
    if (counts[c]! < minImages) {
      const text = `'${name}' has ${counts[c]} image${counts[c] === 1 ? '' : 's'}: too few images to learn (${minImages} or more recommended)`
      classWarnings.set(c, text)
      warnings.push(text)
    }
  })
  const foreground = names.filter((_, c) => !background[c])
  const usable = names.length >= 2 || (names.length === 1 && unlabelled > 0 && kind === 'ovr')
  if (!usable) {
    const only = foreground[0] ?? names[0] ?? ''
    warnings.push(oneClassWarning(only))
  } else if (foreground.length === 0) {
    warnings.push('Only background images: there is no class to learn.')
  }

  const fitOptions = {
    lambda,
    maxIterations: options.maxIterations ?? 500,
    gradientTolerance: options.gradientTolerance ?? 1e-5,
    signal: options.signal,
  }
  const all = samples.map((_, i) => i)
  let fit: Fit
  const prep = usable ? prepare(samples) : undefined
  if (prep) {
    const solved = fitRows(prep, labelSets, all, names.length, kind, fitOptions)
    fit = {
      ...toRaw(prep, solved.W, solved.b, names.length),
      iterations: solved.iterations,
      converged: solved.converged,
    }
  } else {
    fit = {
      weights: new Float64Array(names.length * numFeatures),
      bias: new Float64Array(names.length),
      iterations: 0,
      converged: true,
    }
  }

  const requestedFolds = options.folds ?? DEFAULT_FOLDS
  const folds =
    prep && requestedFolds >= 2 ? Math.min(Math.floor(requestedFolds), samples.length) : 0
  const cv =
    prep && folds >= 2
      ? crossValidate(prep, labelSets, names.length, kind, folds, {
          ...fitOptions,
          // The folds only estimate accuracy: a looser stop halves their cost and moved the coarse
          // ImageNet figure by at most one image of 114.
          gradientTolerance: Math.max(fitOptions.gradientTolerance, CV_GRADIENT_TOLERANCE),
        })
      : undefined

  const classes: LearnedClass[] = names.map((name, c) => ({
    name,
    background: background[c]!,
    weights: Float32Array.from(fit.weights.subarray(c * numFeatures, (c + 1) * numFeatures)),
    bias: fit.bias[c]!,
    images: counts[c]!,
  }))
  const quality: HeadQuality = {
    images: samples.length,
    folds,
    cvAccuracy: cv ? cv.accuracy : null,
    classes: names.map((name, c) => {
      const q: ClassQuality = {
        name,
        background: background[c]!,
        images: counts[c]!,
        cvAccuracy: cv ? cv.recall[c]! : null,
        cvFalsePositiveRate: cv ? cv.falsePositiveRate[c]! : null,
      }
      const w = classWarnings.get(c)
      if (w) q.warning = w
      return q
    }),
    warnings,
    usable,
  }
  return {
    version: 1,
    mode: kind,
    lambda,
    numFeatures,
    classes,
    quality,
    iterations: fit.iterations,
    converged: fit.converged,
  }
}

/**
 * The CAM sources of a head's proposable classes (not background), by label; empty when the head is
 * not usable, so those labels fall back to the class-agnostic CAM. Fits `resolveLabelSources`'s
 * `learned` map (src/main/engine/labels.ts).
 */
export function headSources(head: LearnedHead): Map<string, LearnedSource> {
  const out = new Map<string, LearnedSource>()
  if (!head.quality.usable) return out
  for (const c of head.classes) {
    if (c.background) continue
    out.set(c.name, { kind: 'learned', weights: c.weights, bias: c.bias })
  }
  return out
}

/**
 * Class scores of one pooled-feature vector: softmax probabilities (softmax head) or independent
 * sigmoid probabilities (one-vs-rest), in the order of `head.classes`.
 */
export function predictHead(head: LearnedHead, features: Float32Array): Float32Array {
  if (features.length !== head.numFeatures) {
    throw invalidParameter('features', `${head.numFeatures} pooled features`, features.length)
  }
  const logits = new Float64Array(head.classes.length)
  head.classes.forEach((c, j) => {
    let z = c.bias
    for (let k = 0; k < features.length; k++) z += c.weights[k]! * features[k]!
    logits[j] = z
  })
  return Float32Array.from(scores(logits, head.mode))
}

function scores(logits: Float64Array, kind: HeadKind): Float64Array {
  const out = new Float64Array(logits.length)
  if (kind === 'ovr') {
    for (let c = 0; c < logits.length; c++) out[c] = 1 / (1 + Math.exp(-logits[c]!))
    return out
  }
  let max = -Infinity
  for (const z of logits) if (z > max) max = z
  let sum = 0
  for (let c = 0; c < logits.length; c++) sum += out[c] = Math.exp(logits[c]! - max)
  for (let c = 0; c < logits.length; c++) out[c]! /= sum
  return out
}

function checkSamples(samples: readonly HeadSample[]): {
  names: string[]
  labelSets: number[][]
  numFeatures: number
} {
  if (samples.length === 0) {
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      'No images to learn a head from',
      'Give the project labelled images first (and compute their features).',
    )
  }
  const numFeatures = samples[0]!.features.length
  if (numFeatures === 0) throw invalidParameter('samples[0].features', 'a non-empty vector', 0)
  const index = new Map<string, number>()
  const names: string[] = []
  const labelSets = samples.map((s, i) => {
    if (s.features.length !== numFeatures) {
      throw invalidParameter(
        `samples[${i}].features`,
        `${numFeatures} values like the first sample`,
        s.features.length,
      )
    }
    for (let k = 0; k < numFeatures; k++) {
      if (!Number.isFinite(s.features[k]!)) {
        throw invalidParameter(`samples[${i}].features[${k}]`, 'a finite number', s.features[k])
      }
    }
    const set: number[] = []
    for (const label of s.labels) {
      if (label.length === 0) continue
      let c = index.get(label)
      if (c === undefined) {
        c = names.length
        index.set(label, c)
        names.push(label)
      }
      if (!set.includes(c)) set.push(c)
    }
    return set
  })
  return { names, labelSets, numFeatures }
}

function chooseKind(labelSets: number[][], mode: 'auto' | HeadKind): HeadKind {
  const single = labelSets.every((s) => s.length === 1)
  if (mode === 'softmax' && !single) {
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      'A softmax head needs exactly one label per image, but some images have none or several',
      "Use the one-vs-rest head (mode 'ovr' or 'auto').",
    )
  }
  if (mode === 'auto') return single ? 'softmax' : 'ovr'
  return mode
}

interface FitOptions {
  lambda: number
  maxIterations: number
  gradientTolerance: number
  signal: AbortSignal | undefined
}

/**
 * The training set standardised (mean/std per feature over all images) and expressed in an
 * orthonormal basis of its rows. The optimum of an L2-regularised linear model lies in the span of
 * the training rows, so with fewer images than features the problem shrinks exactly to that span
 * (≤ n dimensions instead of D). Cross-validation folds reuse it: a fold's rows span a subspace of
 * it, and the mean/std use no labels.
 */
interface Prepared {
  D: number
  mean: Float64Array
  std: Float64Array
  /** rank × D, orthonormal rows. */
  Q: Float64Array
  /** n × rank, every image's standardised features in the basis. */
  coords: Float64Array
  rank: number
}

function prepare(samples: readonly HeadSample[]): Prepared {
  const D = samples[0]!.features.length
  const n = samples.length
  const mean = new Float64Array(D)
  const std = new Float64Array(D)
  for (const { features: f } of samples) for (let k = 0; k < D; k++) mean[k]! += f[k]!
  for (let k = 0; k < D; k++) mean[k]! /= n
  for (const { features: f } of samples) {
    for (let k = 0; k < D; k++) {
      const d = f[k]! - mean[k]!
      std[k]! += d * d
    }
  }
  for (let k = 0; k < D; k++) {
    const s = Math.sqrt(std[k]! / n)
    // A constant feature carries nothing; std 1 keeps it (centred to 0) out of the way.
    std[k] = s > 1e-12 * Math.max(1, Math.abs(mean[k]!)) ? s : 1
  }
  const Z = new Float64Array(n * D)
  samples.forEach(({ features: f }, i) => {
    for (let k = 0; k < D; k++) Z[i * D + k] = (f[k]! - mean[k]!) / std[k]!
  })
  return { D, mean, std, ...rowBasis(Z, n, D) }
}

/** Solves on the images `rows` in the basis: W is classes × rank. */
function fitRows(
  prep: Prepared,
  labelSets: number[][],
  rows: number[],
  classes: number,
  kind: HeadKind,
  options: FitOptions,
): ReturnType<typeof solve> {
  const { rank, coords } = prep
  const n = rows.length
  const X = new Float64Array(n * rank)
  const Y = new Float64Array(n * classes)
  rows.forEach((i, r) => {
    X.set(coords.subarray(i * rank, (i + 1) * rank), r * rank)
    const set = labelSets[i]!
    for (const c of set) Y[r * classes + c] = kind === 'softmax' ? 1 / set.length : 1
  })
  return solve({ X, n, dim: rank, Y, classes, kind }, options)
}

/** Back to feature space (W·Q) and to raw features: w' = w/σ, b' = b − Σ w'·μ. */
function toRaw(
  prep: Prepared,
  W: Float64Array,
  b: Float64Array,
  classes: number,
): { weights: Float64Array; bias: Float64Array } {
  const { D, rank, Q, mean, std } = prep
  const weights = new Float64Array(classes * D)
  const bias = new Float64Array(classes)
  for (let c = 0; c < classes; c++) {
    const w = c * D
    for (let j = 0; j < rank; j++) {
      const a = W[c * rank + j]!
      if (a === 0) continue
      const q = j * D
      for (let k = 0; k < D; k++) weights[w + k]! += a * Q[q + k]!
    }
    let beta = b[c]!
    for (let k = 0; k < D; k++) {
      weights[w + k]! /= std[k]!
      beta -= weights[w + k]! * mean[k]!
    }
    bias[c] = beta
  }
  return { weights, bias }
}

/**
 * An orthonormal basis Q (rank × D) of the rows of Z (n × D) by modified Gram–Schmidt with one
 * re-orthogonalisation pass, and the rows' coordinates in it (n × rank).
 */
function rowBasis(
  Z: Float64Array,
  n: number,
  D: number,
): { Q: Float64Array; coords: Float64Array; rank: number } {
  const width = Math.min(n, D)
  const Q = new Float64Array(width * D)
  let rank = 0
  const v = new Float64Array(D)
  for (let i = 0; i < n; i++) {
    const row = i * D
    let norm0 = 0
    for (let k = 0; k < D; k++) {
      v[k] = Z[row + k]!
      norm0 += v[k]! * v[k]!
    }
    for (let pass = 0; pass < 2; pass++) {
      for (let j = 0; j < rank; j++) {
        const q = j * D
        let p = 0
        for (let k = 0; k < D; k++) p += Q[q + k]! * v[k]!
        for (let k = 0; k < D; k++) v[k]! -= p * Q[q + k]!
      }
    }
    let norm = 0
    for (let k = 0; k < D; k++) norm += v[k]! * v[k]!
    if (rank < width && norm > 1e-20 * norm0 && norm > 0) {
      const s = 1 / Math.sqrt(norm)
      const q = rank * D
      for (let k = 0; k < D; k++) Q[q + k] = v[k]! * s
      rank++
    }
  }
  // Coordinates of every row in the basis (rows dropped as dependent still get their coordinates).
  const out = new Float64Array(n * rank)
  for (let i = 0; i < n; i++) {
    const row = i * D
    for (let j = 0; j < rank; j++) {
      const q = j * D
      let p = 0
      for (let k = 0; k < D; k++) p += Q[q + k]! * Z[row + k]!
      out[i * rank + j] = p
    }
  }
  return { Q: Q.subarray(0, rank * D), coords: out, rank }
}

/** Minimises mean loss + λ/2‖W‖² (bias not regularised) over [W (C × dim), b (C)]. */
function solve(
  p: Problem,
  options: FitOptions,
): { W: Float64Array; b: Float64Array; iterations: number; converged: boolean } {
  const { X, n, dim, Y, classes: C, kind } = p
  const lambda = options.lambda
  const z = new Float64Array(C)
  const nw = C * dim
  // Flat index arithmetic (no subarray views) in the hot loops: this runs ~100× per training.
  const objective = (x: Float64Array, grad: Float64Array): number => {
    grad.fill(0)
    let loss = 0
    for (let i = 0; i < n; i++) {
      const row = i * dim
      for (let c = 0; c < C; c++) {
        const w = c * dim
        let s = x[nw + c]!
        for (let j = 0; j < dim; j++) s += x[w + j]! * X[row + j]!
        z[c] = s
      }
      if (kind === 'softmax') {
        let max = -Infinity
        for (let c = 0; c < C; c++) if (z[c]! > max) max = z[c]!
        let sum = 0
        for (let c = 0; c < C; c++) sum += Math.exp(z[c]! - max)
        const lse = max + Math.log(sum)
        for (let c = 0; c < C; c++) {
          const y = Y[i * C + c]!
          loss += y * (lse - z[c]!)
          z[c] = Math.exp(z[c]! - lse) - y // residual p − y
        }
      } else {
        for (let c = 0; c < C; c++) {
          const y = Y[i * C + c]!
          const v = z[c]!
          // softplus(v) − y·v, computed without overflow.
          loss += (v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v))) - y * v
          z[c] = 1 / (1 + Math.exp(-v)) - y
        }
      }
      for (let c = 0; c < C; c++) {
        const r = z[c]! / n
        if (r === 0) continue
        const g = c * dim
        for (let j = 0; j < dim; j++) grad[g + j]! += r * X[row + j]!
        grad[nw + c]! += r
      }
    }
    loss /= n
    let reg = 0
    for (let k = 0; k < nw; k++) {
      reg += x[k]! * x[k]!
      grad[k]! += lambda * x[k]!
    }
    return loss + 0.5 * lambda * reg
  }
  const result = minimizeLbfgs(objective, new Float64Array(C * dim + C), {
    maxIterations: options.maxIterations,
    gradientTolerance: options.gradientTolerance,
    ...(options.signal ? { signal: options.signal } : {}),
  })
  return {
    W: result.x.subarray(0, C * dim),
    b: result.x.subarray(C * dim),
    iterations: result.iterations,
    converged: result.converged,
  }
}

/**
 * Deterministic stratified folds: images grouped by their first label (unlabelled ones together),
 * groups in order of first appearance, and one running counter dealing images to folds, so every
 * class is spread over the folds as evenly as its size allows.
 */
export function assignFolds(labelSets: readonly number[][], folds: number): Int32Array {
  const groups = new Map<number, number[]>()
  labelSets.forEach((s, i) => {
    const key = s.length > 0 ? s[0]! : -1
    let g = groups.get(key)
    if (!g) groups.set(key, (g = []))
    g.push(i)
  })
  const fold = new Int32Array(labelSets.length)
  let counter = 0
  for (const g of groups.values()) for (const i of g) fold[i] = counter++ % folds
  return fold
}

function crossValidate(
  prep: Prepared,
  labelSets: number[][],
  classes: number,
  kind: HeadKind,
  folds: number,
  options: FitOptions,
): { accuracy: number; recall: number[]; falsePositiveRate: number[] } {
  const fold = assignFolds(labelSets, folds)
  const { rank, coords } = prep
  const positives = new Array<number>(classes).fill(0)
  const hits = new Array<number>(classes).fill(0)
  const negatives = new Array<number>(classes).fill(0)
  const falseHits = new Array<number>(classes).fill(0)
  let correct = 0
  for (let f = 0; f < folds; f++) {
    const train: number[] = []
    const test: number[] = []
    labelSets.forEach((_, i) => (fold[i] === f ? test : train).push(i))
    if (test.length === 0 || train.length === 0) continue
    const fit = fitRows(prep, labelSets, train, classes, kind, options)
    for (const i of test) {
      const logits = new Float64Array(classes)
      for (let c = 0; c < classes; c++) {
        let s = fit.b[c]!
        for (let j = 0; j < rank; j++) s += fit.W[c * rank + j]! * coords[i * rank + j]!
        logits[c] = s
      }
      const p = scores(logits, kind)
      const truth = labelSets[i]!
      let predicted: number[]
      if (kind === 'softmax') {
        let best = 0
        for (let c = 1; c < classes; c++) if (p[c]! > p[best]!) best = c
        predicted = [best]
      } else {
        predicted = []
        for (let c = 0; c < classes; c++) if (p[c]! >= 0.5) predicted.push(c)
      }
      for (let c = 0; c < classes; c++) {
        const isTrue = truth.includes(c)
        const isPredicted = predicted.includes(c)
        if (isTrue) {
          positives[c]!++
          if (isPredicted) hits[c]!++
        } else {
          negatives[c]!++
          if (isPredicted) falseHits[c]!++
        }
      }
      const exact = predicted.length === truth.length && predicted.every((c) => truth.includes(c))
      if (exact) correct++
    }
  }
  return {
    accuracy: correct / labelSets.length,
    recall: hits.map((h, c) => (positives[c]! > 0 ? h / positives[c]! : 0)),
    falsePositiveRate: falseHits.map((h, c) => (negatives[c]! > 0 ? h / negatives[c]! : 0)),
  }
}

function percent(x: number | null): string {
  return x === null ? '–' : `${(100 * x).toFixed(1)}%`
}

/**
 * The quality report as text lines, for the command line: one line per class with its image
 * count, cross-validated accuracy and false-positive rate, then the warnings.
 */
export function formatHeadQuality(head: LearnedHead): string[] {
  const q = head.quality
  const kind = head.mode === 'softmax' ? 'softmax regression' : 'one-vs-rest logistic regression'
  const lines = [
    `learned head: ${kind}, λ ${head.lambda}, ${q.images} images, ` +
      (q.folds >= 2
        ? `${q.folds}-fold CV accuracy ${percent(q.cvAccuracy)}`
        : 'no cross-validation'),
  ]
  if (q.usable) {
    const names = q.classes.map((c) => (c.background ? `${c.name} (negatives)` : c.name))
    const width = Math.max(5, ...names.map((n) => n.length))
    lines.push(`  ${'class'.padEnd(width)}  images  CV acc  false pos`)
    q.classes.forEach((c, i) => {
      lines.push(
        `  ${names[i]!.padEnd(width)}  ${String(c.images).padStart(6)}  ${percent(c.cvAccuracy).padStart(6)}  ${percent(c.cvFalsePositiveRate).padStart(9)}`,
      )
    })
  }
  for (const w of q.warnings) lines.push(`warning: ${w}`)
  return lines
}
