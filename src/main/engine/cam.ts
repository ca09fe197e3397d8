/**
 * Class Activation Maps (Zhou et al., CVPR 2016): for a network whose head is global average
 * pooling followed by a linear layer, the map of class c is CAM_c = Σ_k W[c,k] · F[k], the feature
 * maps weighted by that class's classifier row. Pure functions over typed arrays.
 */
import { invalidParameter } from '../../shared/errors.ts'
import type { FeatureMaps, ForwardResult, LinearClassifier, Map2D } from './types.ts'

/**
 * CAM_c = Σ_k w[k] · F[k] for one classifier row `weights` (length = channels). No bias: a constant
 * added to every pixel changes neither the argmax nor, after the max-relative threshold, much else,
 * and the paper leaves it out.
 */
export function camFromFeatures(features: FeatureMaps, weights: Float32Array): Map2D {
  const { channels, width, height, data } = features
  if (weights.length !== channels) {
    throw invalidParameter(
      'weights',
      `a row of ${channels} weights (one per channel)`,
      weights.length,
    )
  }
  const plane = width * height
  if (data.length < channels * plane) {
    throw invalidParameter('features', `${channels}×${height}×${width} values`, data.length)
  }
  const out = new Float32Array(plane)
  // Channel-outer order walks `data` sequentially; zero weights (ReLU'd or pruned rows) are skipped.
  for (let k = 0; k < channels; k++) {
    const w = weights[k]!
    if (w === 0) continue
    const base = k * plane
    for (let i = 0; i < plane; i++) out[i]! += w * data[base + i]!
  }
  return { data: out, width, height }
}

/** One channel of a class-map tensor ([C, h, w], e.g. SqueezeNet's conv10_2), copied. */
export function classMapChannel(maps: FeatureMaps, index: number): Map2D {
  if (!Number.isInteger(index) || index < 0 || index >= maps.channels) {
    throw invalidParameter('index', `a channel index in 0..${maps.channels - 1}`, index)
  }
  const plane = maps.width * maps.height
  const data = maps.plane ? maps.plane(index) : maps.data.slice(index * plane, (index + 1) * plane)
  return { data, width: maps.width, height: maps.height }
}

/**
 * The CAM of one model class: the model's own class map when it has one (SqueezeNet), else the
 * feature maps weighted by row `classIndex` of the classifier ([numClasses × numFeatures]).
 */
export function camForClass(
  fwd: ForwardResult,
  classifier: LinearClassifier,
  classIndex: number,
): Map2D {
  if (fwd.classMaps) return classMapChannel(fwd.classMaps, classIndex)
  if (!Number.isInteger(classIndex) || classIndex < 0 || classIndex >= classifier.numClasses) {
    throw invalidParameter(
      'classIndex',
      `a class index in 0..${classifier.numClasses - 1}`,
      classIndex,
    )
  }
  const n = classifier.numFeatures
  const row = classifier.weights.subarray(classIndex * n, (classIndex + 1) * n)
  return camFromFeatures(fwd.features, row)
}

/** Indices of the k largest values, largest first (ties: lower index first). */
export function topK(values: Float32Array, k: number): number[] {
  const n = Math.min(Math.max(0, Math.floor(k)), values.length)
  const best: number[] = []
  // Insertion into a short sorted list: k is small (5), the class count is ~1000.
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!
    if (Number.isNaN(v)) continue
    if (best.length === n && v <= values[best[n - 1]!]!) continue
    let j = best.length < n ? best.length : n - 1
    while (j > 0 && values[best[j - 1]!]! < v) {
      best[j] = best[j - 1]!
      j--
    }
    best[j] = i
  }
  return best
}

/**
 * The CAM of several classes together (a label mapped onto many model classes, or the agnostic
 * CAM's top predictions): each class's CAM normalised to a max of 1 (so one class with large raw
 * activations does not drown the others), summed with weights p_i / Σp over those classes. Classes
 * whose CAM has no positive value, or whose probability is 0, add nothing.
 */
export function weightedCam(
  fwd: ForwardResult,
  classifier: LinearClassifier,
  classes: readonly number[],
): Map2D {
  const shape = fwd.classMaps ?? fwd.features
  const out = new Float32Array(shape.width * shape.height)
  let total = 0
  for (const c of classes) total += Math.max(0, fwd.probabilities[c] ?? 0)
  for (const c of classes) {
    const p = Math.max(0, fwd.probabilities[c] ?? 0)
    if (p === 0) continue
    const cam = camForClass(fwd, classifier, c).data
    let max = 0
    for (let i = 0; i < cam.length; i++) if (cam[i]! > max) max = cam[i]!
    if (max <= 0) continue
    const w = p / total / max
    for (let i = 0; i < cam.length; i++) out[i]! += w * cam[i]!
  }
  return { data: out, width: shape.width, height: shape.height }
}

/**
 * The class-agnostic CAM, for labels the model does not know: the weighted CAM (see weightedCam) of
 * the top-k predicted classes. Returns the map and the class indices used, most probable first.
 */
export function agnosticCam(
  fwd: ForwardResult,
  classifier: LinearClassifier,
  topKCount = 5,
): { map: Map2D; classes: number[] } {
  if (!Number.isInteger(topKCount) || topKCount < 1) {
    throw invalidParameter('topK', 'an integer ≥ 1', topKCount)
  }
  const classes = topK(fwd.probabilities, topKCount)
  return { map: weightedCam(fwd, classifier, classes), classes }
}
