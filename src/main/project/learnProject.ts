/**
 * Learned CAM heads for a project (Zhou et al. 2016, section 3.3): the pooled features of every
 * image are extracted once per model revision (in the inference worker, resumable, cached in the
 * store under the model's feature key), a linear head is trained on them and the image labels (in
 * the worker too) and stored with its quality report. Whether a label uses the head is the label
 * planner's decision (labelPlan.ts).
 */
import { toErrorData } from '../../shared/errors.ts'
import { DEFAULT_HEAD_LAMBDA, oneClassWarning } from '../engine/head.ts'
import { describeModel } from '../engine/modelInfo.ts'
import { modelIdentity, type ModelIdentity } from '../engine/modelIdentity.ts'
import type { ProviderChoice } from '../engine/session.ts'
import type { Report } from '../jobs/progress.ts'
import { checkImages } from './imageFiles.ts'
import { lockProject } from './runLock.ts'
import { withWorker } from './workerScope.ts'
import type { InferenceWorker } from '../jobs/worker.ts'
import { trainingFingerprint } from '../store/learning.ts'
import type { ProjectStore, StoredHead } from '../store/projectStore.ts'
import { MODEL_META } from './settings.ts'

/** Options of extractProjectFeatures and learnProjectHead. */
export interface LearnOptions {
  /** Manifest id or .onnx path, or an identity (default: the default model). */
  model?: string | ModelIdentity
  providers?: ProviderChoice
  signal?: AbortSignal
  report?: Report
  /** The inference worker to use (default: one started for this call and closed after it). */
  worker?: InferenceWorker
  /** L2 strength (default: the stored head's, else DEFAULT_HEAD_LAMBDA). */
  lambda?: number
  /** Retrain even when the stored head was trained on the same images, labels and settings. */
  force?: boolean
}

/** What a feature pass did. */
export interface ExtractProjectFeaturesResult {
  featureKey: string
  /** Images that already had current features (or a recorded failure) before this pass. */
  cached: number
  /** Images this pass had to extract (0: no worker was used). */
  total: number
  extracted: number
  failed: number
  /** Per-image failures of this pass (the batch went on). */
  errors: { file: string; error: string }[]
  cancelled: boolean
  provider?: string
  jobId?: number
}

/** What learnProjectHead did. */
export interface LearnProjectResult {
  /** The stored head in use; undefined when nothing can be learned (one class, no features). */
  head?: StoredHead
  /** True when this call trained (and stored) the head; false when the stored one was current. */
  trained: boolean
  trainMs?: number
  /** Undefined when the feature pass was skipped (a single class: nothing to learn). */
  features?: ExtractProjectFeaturesResult
  /** Why no head could be learned, when none was. */
  warning?: string
  featureKey: string
}

const identityOf = (model: LearnOptions['model']) =>
  typeof model === 'object' ? model : modelIdentity(model)

/**
 * Extracts the pooled features of the project's images that have none under this model's feature
 * key (new images, or files changed since), persisting each image in its own transaction as it
 * arrives: killed or cancelled, the next call resumes where this one stopped. A failing image is
 * recorded with its reason and the pass goes on.
 */
export async function extractProjectFeatures(
  store: ProjectStore,
  options: LearnOptions = {},
): Promise<ExtractProjectFeaturesResult> {
  const release = lockProject(store, 'features')
  try {
    return await extract(store, options)
  } finally {
    release()
  }
}

async function extract(
  store: ProjectStore,
  options: LearnOptions,
): Promise<ExtractProjectFeaturesResult> {
  const identity = identityOf(options.model)
  const info = await describeModel(identity)
  // Files changed since their import are re-read first, so their features are extracted again.
  const check = await checkImages(store, store.images.all(), { update: true })
  const unusable = new Map(check.failed.map((f) => [f.id, f]))
  const todo = store.learning.imagesMissingFeatures(info.featureKey)
  const result: ExtractProjectFeaturesResult = {
    featureKey: info.featureKey,
    cached: store.images.count() - todo.length,
    total: todo.length,
    extracted: 0,
    failed: 0,
    errors: [],
    cancelled: false,
  }
  if (todo.length === 0) return result
  const jobId = store.jobs.start(
    'features',
    { model: identity.ref, featureKey: info.featureKey },
    todo.length,
  )
  result.jobId = jobId
  const byId = new Map(todo.map((t) => [String(t.id), t]))
  let done = 0
  // An image whose file cannot be used is recorded as failed (not retried until it changes).
  store.transaction(() => {
    for (const t of todo) {
      const f = unusable.get(t.id)
      if (!f) continue
      store.learning.saveFeatures(t.id, info.featureKey, t.hash, { error: f.message })
      result.failed++
      result.errors.push({ file: t.file, error: f.message })
      done++
    }
  })
  const tasks = todo
    .filter((t) => !unusable.has(t.id))
    .map((t) => ({ key: String(t.id), path: check.paths.get(t.id)!, labels: [] }))
  options.report?.({
    type: 'progress',
    stage: 'features',
    done,
    total: todo.length,
    failed: result.failed,
  })
  try {
    if (tasks.length > 0)
      await withWorker(options.worker, async (worker) => {
        for await (const r of worker.features(tasks, {
          model: identity,
          providers: options.providers ?? 'auto',
          ...(options.signal ? { signal: options.signal } : {}),
          onReady: (info) => {
            result.provider = info.provider
            options.report?.({ type: 'ready', info })
          },
        })) {
          const image = byId.get(r.key)!
          store.transaction(() => {
            if (r.features && !r.error) {
              store.learning.saveFeatures(image.id, info.featureKey, image.hash, {
                features: r.features,
              })
              result.extracted++
            } else {
              const error = r.error?.message ?? 'no features'
              store.learning.saveFeatures(image.id, info.featureKey, image.hash, { error })
              result.failed++
              result.errors.push({ file: image.file, error })
            }
            done++
            store.jobs.progress(jobId, done, result.failed)
          })
          options.report?.({
            type: 'progress',
            stage: 'features',
            done,
            total: todo.length,
            failed: result.failed,
          })
        }
      })
  } catch (err) {
    if (toErrorData(err).code === 'CANCELLED' || options.signal?.aborted) {
      result.cancelled = true
      store.jobs.finish(jobId, 'cancelled')
      return result
    }
    store.jobs.finish(jobId, 'failed', toErrorData(err).message)
    throw err
  }
  store.jobs.finish(jobId, 'done')
  return result
}

/**
 * Ensures a current learned head for the project: extracts missing features, then trains (in the
 * worker) on every labelled image with features unless the stored head was trained on exactly
 * these images, labels and settings. A project with a single label (and no 'background'
 * negatives) has nothing to discriminate: no feature pass, no head, and the warning says to add
 * negatives.
 */
export async function learnProjectHead(
  store: ProjectStore,
  options: LearnOptions = {},
): Promise<LearnProjectResult> {
  const release = lockProject(store, 'learn')
  try {
    return await learn(store, options)
  } finally {
    release()
  }
}

async function learn(store: ProjectStore, options: LearnOptions): Promise<LearnProjectResult> {
  const identity = identityOf(options.model)
  const info = await describeModel(identity)
  store.setMeta(MODEL_META, identity.ref)
  const labels = store.labels.withImages()
  if (labels.length < 2) {
    return {
      trained: false,
      featureKey: info.featureKey,
      warning:
        labels.length === 1
          ? oneClassWarning(labels[0]!.label)
          : 'No image has a label: nothing to learn from. Import labels first.',
    }
  }
  return withWorker(options.worker, async (worker) => {
    const features = await extractProjectFeatures(store, { ...options, model: identity, worker })
    const out: LearnProjectResult = { trained: false, features, featureKey: info.featureKey }
    if (features.cancelled) return out
    const samples = store.learning.featureSamples(info.featureKey)
    const stored = store.learning.head(info.featureKey)
    // A run that does not name λ keeps the one the stored head was trained with (camlabel learn --lambda).
    const lambda = options.lambda ?? stored?.lambda ?? DEFAULT_HEAD_LAMBDA
    if (samples.length === 0) {
      out.warning = 'No labelled image has features (every image failed): nothing to learn from.'
      if (stored) out.head = stored
      return out
    }
    const fingerprint = trainingFingerprint(info.featureKey, samples, { lambda, mode: 'auto' })
    if (stored && stored.fingerprint === fingerprint && !options.force) {
      out.head = stored
      return out
    }
    const started = performance.now()
    const head = await worker.train(samples, { lambda }, options.signal)
    out.trainMs = performance.now() - started
    store.learning.saveHead(info.featureKey, fingerprint, head)
    out.head = store.learning.head(info.featureKey)
    out.trained = true
    return out
  })
}
