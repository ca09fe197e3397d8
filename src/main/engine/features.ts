/**
 * Pooled features for learning CAM heads: every image through the model once, the feature maps
 * before the classifier averaged over H×W (the global average pooling the CAM's linearity rests
 * on). One vector per image, cached by the caller under `featureCacheKey(model)`.
 */
import { createHash } from 'node:crypto'
import { statSync } from 'node:fs'
import path from 'node:path'
import { CamlabelError, toErrorData, type ErrorData } from '../../shared/errors.ts'
import { isFailure, prefetchImages } from './prefetch.ts'
import { preprocessingRevision } from './revision.ts'
import type { LoadedModel } from './session.ts'
import type { FeatureMaps, ForwardResult } from './types.ts'

/** One image whose features are wanted; `key` is the caller's id (relative path, row id). */
export interface FeatureTask {
  key: string
  path: string
}

export interface FeatureResult {
  key: string
  path: string
  /** Displayed size (EXIF-aware); 0 when the image could not be read. */
  width: number
  height: number
  /** Global average of each feature channel; absent when the image failed. */
  features?: Float32Array
  warnings: string[]
  /** Per-image failure (unreadable, too large…): the batch goes on. */
  error?: ErrorData
}

export interface ExtractOptions {
  signal?: AbortSignal
  onProgress?: (progress: { done: number; total: number; failed: number }) => void
  /** How many images are decoded ahead of the forward pass (default 3). */
  prefetch?: number
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
 * The revision of a user's own .onnx file: a hash of its absolute path, size and modification
 * time, so a model retrained in place (same name) gets a new one. `file-` + 16 hex digits.
 * @throws CamlabelError NOT_FOUND when the file is missing
 */
export function modelFileRevision(file: string): string {
  const abs = path.resolve(file)
  let st
  try {
    st = statSync(abs)
  } catch {
    throw new CamlabelError(
      'NOT_FOUND',
      `No model file at ${abs}`,
      'Pass a manifest id or an existing .onnx file.',
    )
  }
  const rev = createHash('sha1')
    .update(`${abs}\n${st.size}\n${Math.round(st.mtimeMs)}`)
    .digest('hex')
    .slice(0, 16)
  return `file-${rev}`
}

/**
 * The key cached features are stored under: the model, the tensor the features come from and the
 * preprocessing revision (sharp/libvips/engine versions), so features computed from other pixels
 * or another layer are never mixed into a training set. A user's own model (not in the manifest)
 * is keyed by its absolute path and file revision (see modelFileRevision), not by its file name:
 * retraining `model.onnx` in place must not reuse the old model's features.
 */
export function featureCacheKey(
  model: Pick<LoadedModel, 'id' | 'head'> & {
    spec: Pick<LoadedModel['spec'], 'preprocessing'> &
      Partial<Pick<LoadedModel['spec'], 'file' | 'fromManifest'>>
  },
): string {
  const prep = preprocessingRevision(model.id, model.spec.preprocessing)
  if (model.spec.fromManifest === false && model.spec.file) {
    const file = path.resolve(model.spec.file)
    return `${file}:${model.head.featureTensor}:${prep}:${modelFileRevision(file)}`
  }
  return `${model.id}:${model.head.featureTensor}:${prep}`
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
        result = { ...base, features: pooledFeatures(fwd), warnings: prepared.warnings }
      } catch (err) {
        result = { ...base, warnings: prepared.warnings, error: toErrorData(err) }
      }
    }
    if (result.error) failed++
    options.onProgress?.({ done: index + 1, total: tasks.length, failed })
    yield result
  }
}
