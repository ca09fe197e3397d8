/**
 * Pooled features for learning CAM heads: every image through the model once, the feature maps
 * before the classifier averaged over H×W (the global average pooling the CAM's linearity rests
 * on). One vector per image, cached by the caller under featureKey (modelIdentity.ts).
 */
import { normaliseByMax } from '../../shared/cam/proposals.ts'
import { toErrorData, type ErrorData } from '../../shared/errors.ts'
import type { LabelSource } from './labels.ts'
import { isFailure, prefetchImages, type Prepare } from './prefetch.ts'
import { labelCam } from './propose.ts'
import type { LoadedModel } from './session.ts'
import type { FeatureMaps, ForwardResult, Map2D } from './types.ts'

/** One image whose features are wanted; `key` is the caller's id (relative path, row id). */
export interface FeatureTask {
  key: string
  path: string
  /** Its labels: with `cells`, each one's normalised CAM comes back too. */
  labels?: string[]
}

export interface FeatureResult {
  key: string
  path: string
  /** Displayed size (EXIF-aware); 0 when the image could not be read. */
  width: number
  height: number
  /** Global average of each feature channel; absent when the image failed. */
  features?: Float32Array
  /** With `cells`: the feature cells themselves, [C, h, w] (learning from reviewed boxes). */
  maps?: FeatureMaps
  /** With `cells`: each task label's CAM, divided by its max. */
  cams?: { label: string; cam: Map2D }[]
  warnings: string[]
  /** Per-image failure (unreadable, too large…): the batch goes on. */
  error?: ErrorData
}

export interface ExtractOptions {
  signal?: AbortSignal
  onProgress?: (progress: { done: number; total: number; failed: number }) => void
  /** How many images are decoded ahead of the forward pass (default 3). */
  prefetch?: number
  /** Where images are decoded (see prefetch.ts); prepareImage on this thread when not given. */
  prepare?: Prepare
  /** Also the feature cells and the labels' CAMs, each label's from its source. */
  cells?: (label: string) => LabelSource
}

/** Global average pooling of a [C, H, W] stack: one value per channel, summed in float64. */
export function poolFeatureMaps(maps: FeatureMaps): Float32Array {
  const { data, channels, width, height } = maps
  const plane = width * height
  const out = new Float32Array(channels)
  for (let c = 0; c < channels; c++) {
    let sum = 0
    const base = c * plane
    for (let i = 0; i < plane; i++) sum += data[base + i]!
    out[c] = sum / plane
  }
  return out
}

/** The pooled features of one forward pass (the input of the model's own linear classifier). */
export function pooledFeatures(fwd: ForwardResult): Float32Array {
  return poolFeatureMaps(fwd.features)
}

/**
 * Runs every image through the model and yields its pooled features, in task order. Decoding runs a
 * few images ahead of the forward pass so the two overlap. A failing image yields a result with
 * `error` and the batch goes on; `signal` stops it between images (throws AbortError).
 */
export async function* extractFeatures(
  model: LoadedModel,
  tasks: readonly FeatureTask[],
  options: ExtractOptions = {},
): AsyncGenerator<FeatureResult> {
  let failed = 0
  const images = prefetchImages(tasks, model.spec.preprocessing, {
    depth: options.prefetch ?? 3,
    ...(options.prepare ? { prepare: options.prepare } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  })
  for await (const { task, index, prepared } of images) {
    let result: FeatureResult
    if (isFailure(prepared)) {
      result = {
        key: task.key,
        path: task.path,
        width: 0,
        height: 0,
        warnings: [],
        error: prepared,
      }
    } else {
      const base = {
        key: task.key,
        path: task.path,
        width: prepared.width,
        height: prepared.height,
      }
      try {
        const fwd = await model.forward(prepared.tensor)
        const features = pooledFeatures(fwd)
        result = { ...base, features, warnings: prepared.warnings }
        if (options.cells) {
          const sources = options.cells
          // A copy: the forward's buffer may hold the whole batch, and the result is transferred.
          result.maps = { ...fwd.features, data: fwd.features.data.slice() }
          result.cams = [...new Set(task.labels ?? [])].map((label) => ({
            label,
            cam: normaliseByMax(labelCam(sources(label), fwd, model, features).cam),
          }))
        }
      } catch (err) {
        result = { ...base, warnings: prepared.warnings, error: toErrorData(err) }
      }
    }
    if (result.error) failed++
    options.onProgress?.({ done: index + 1, total: tasks.length, failed })
    yield result
  }
}
