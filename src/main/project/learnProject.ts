/**
 * Learned CAM heads for a project (issue 5): the pooled features of every image are extracted once
 * per model (in the inference worker, resumable, cached in the store keyed by featureCacheKey), a
 * linear head is trained on them and the image labels and stored with its quality report, and each
 * label's CAM source (model classes, learned head, class-agnostic, the user's mapping) is resolved
 * the same way here as in the worker, so a proposal run can tell which labels' proposals are stale.
 */
import { readFile } from 'node:fs/promises'
import { CamlabelError, toErrorData } from '../../shared/errors.ts'
import { parseClasses } from '../engine/classes.ts'
import { featureCacheKey } from '../engine/features.ts'
import {
  DEFAULT_HEAD_LAMBDA,
  headSources,
  isBackgroundLabel,
  oneClassWarning,
  trainHead,
  type LearnedSource,
} from '../engine/head.ts'
import {
  mappedClasses,
  resolveLabelSources,
  type HeadMode,
  type LabelMapping,
  type LabelSource,
} from '../engine/labels.ts'
import { classesAsset, findModel, modelPath } from '../engine/manifest.ts'
import { openModel, type ProviderChoice } from '../engine/session.ts'
import type { ModelClass } from '../engine/types.ts'
import { runFeatureJob } from '../jobs/proposalJob.ts'
import { trainingFingerprint } from '../store/learning.ts'
import type { ProjectStore, StoredHead } from '../store/projectStore.ts'
import { modelRevision } from './modelRevision.ts'

/** What the main thread needs to know of a model to cache features and resolve label sources. */
export interface ProjectModelInfo {
  /** Manifest id or absolute .onnx path, as runs are keyed. */
  model: string
  revision: string
  featureKey: string
  classes: ModelClass[]
}

const infoCache = new Map<string, ProjectModelInfo>()

/** The meta key of the model the project's last proposal run or learning used. */
export const MODEL_META = 'last_model'

/**
 * The model's feature key and classes without starting the worker: for a manifest model with its
 * CAM tensors in the manifest, from the manifest and the class list; otherwise the model is opened
 * once (CPU) and released. Cached per process.
 */
export async function projectModelInfo(model: string | undefined): Promise<ProjectModelInfo> {
  const { model: id, revision } = modelRevision(model)
  const cacheKey = `${id}\n${revision}`
  const cached = infoCache.get(cacheKey)
  if (cached) return cached
  let info: ProjectModelInfo
  const spec = id.endsWith('.onnx') ? undefined : findModel(id)
  if (spec?.cam) {
    const featureKey = featureCacheKey({
      id: spec.id,
      spec: { preprocessing: spec.preprocessing, fromManifest: true },
      head: { featureTensor: spec.cam.featureTensor },
    } as Parameters<typeof featureCacheKey>[0])
    let text: string
    try {
      text = await readFile(modelPath(classesAsset(spec)), 'utf8')
    } catch (err) {
      throw new CamlabelError(
        'NOT_FOUND',
        `The class list of model ${spec.id} is missing`,
        `Fetch it with: npm run models -- ${spec.id}`,
        { cause: err },
      )
    }
    info = { model: id, revision, featureKey, classes: parseClasses(text) }
  } else {
    const loaded = await openModel(id, { providers: 'cpu' })
    try {
      info = { model: id, revision, featureKey: featureCacheKey(loaded), classes: loaded.classes }
    } finally {
      await loaded.dispose()
    }
  }
  infoCache.set(cacheKey, info)
  return info
}

/** Options of extractProjectFeatures. */
export interface ExtractProjectFeaturesOptions {
  /** Manifest id or .onnx path (default: the default model). */
  model?: string
  providers?: ProviderChoice
  signal?: AbortSignal
  onProgress?: (p: { done: number; total: number; failed: number }) => void
}

/** What a feature pass did. */
export interface ExtractProjectFeaturesResult {
  featureKey: string
  /** Images that already had current features (or a recorded failure) before this pass. */
  cached: number
  /** Images this pass had to extract (0: no worker was started). */
  total: number
  extracted: number
  failed: number
  /** Per-image failures of this pass (the batch went on). */
  errors: { file: string; error: string }[]
  cancelled: boolean
  provider?: string
  jobId?: number
}

/**
 * Extracts the pooled features of the project's images that have none under this model's feature
 * key (new images, or files changed since), in the inference worker, persisting each image in its
 * own transaction as it arrives: killed or cancelled, the next call resumes where this one stopped.
 * A failing image is recorded with its reason and the pass goes on.
 */
export async function extractProjectFeatures(
  store: ProjectStore,
  options: ExtractProjectFeaturesOptions = {},
): Promise<ExtractProjectFeaturesResult> {
  const info = await projectModelInfo(options.model)
  const todo = store.imagesMissingFeatures(info.featureKey)
  const result: ExtractProjectFeaturesResult = {
    featureKey: info.featureKey,
    cached: store.imageCount() - todo.length,
    total: todo.length,
    extracted: 0,
    failed: 0,
    errors: [],
    cancelled: false,
  }
  if (todo.length === 0) return result
  const jobId = store.startJob(
    'features',
    { model: info.model, featureKey: info.featureKey },
    todo.length,
  )
  result.jobId = jobId
  const byId = new Map(todo.map((t) => [String(t.id), t]))
  const tasks = todo.map((t) => ({ key: String(t.id), path: store.imagePath(t.file), labels: [] }))
  let done = 0
  try {
    for await (const r of runFeatureJob(tasks, {
      model: info.model,
      providers: options.providers ?? 'auto',
      head: 'model',
      ...(options.signal ? { signal: options.signal } : {}),
      onReady: (ready) => (result.provider = ready.provider),
    })) {
      const image = byId.get(r.key)!
      store.transaction(() => {
        if (r.features && !r.error) {
          store.saveFeatures(image.id, info.featureKey, image.hash, { features: r.features })
          result.extracted++
        } else {
          const error = r.error?.message ?? 'no features'
          store.saveFeatures(image.id, info.featureKey, image.hash, { error })
          result.failed++
          result.errors.push({ file: image.file, error })
        }
        done++
        store.progressJob(jobId, done, result.failed)
      })
      options.onProgress?.({ done, total: todo.length, failed: result.failed })
    }
  } catch (err) {
    const data = toErrorData(err)
    if (data.code === 'CANCELLED' || options.signal?.aborted) {
      result.cancelled = true
      store.finishJob(jobId, 'cancelled')
      return result
    }
    store.finishJob(jobId, 'failed', data.message)
    throw err
  }
  store.finishJob(jobId, 'done')
  return result
}

/** Options of learnProjectHead. */
export interface LearnProjectOptions extends ExtractProjectFeaturesOptions {
  /** L2 strength (default: the stored head's, else DEFAULT_HEAD_LAMBDA). */
  lambda?: number
  /** Retrain even when the stored head was trained on the same images, labels and settings. */
  force?: boolean
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

/** The labels the project's images carry (with at least one image), in class order. */
export function projectLabels(store: ProjectStore): string[] {
  return store
    .counts()
    .byClass.filter((c) => c.images > 0)
    .map((c) => c.label)
}

/**
 * Ensures a current learned head for the project: extracts missing features, then trains on every
 * labelled image with features unless the stored head was trained on exactly these images, labels
 * and settings. A project with a single label (and no 'background' negatives) has nothing to
 * discriminate: no feature pass, no head, and the warning says to add negatives.
 */
export async function learnProjectHead(
  store: ProjectStore,
  options: LearnProjectOptions = {},
): Promise<LearnProjectResult> {
  const info = await projectModelInfo(options.model)
  store.setMeta(MODEL_META, info.model)
  const labels = projectLabels(store)
  if (labels.length < 2) {
    return {
      trained: false,
      featureKey: info.featureKey,
      warning:
        labels.length === 1
          ? oneClassWarning(labels[0]!)
          : 'No image has a label: nothing to learn from. Import labels first.',
    }
  }
  const features = await extractProjectFeatures(store, options)
  const out: LearnProjectResult = { trained: false, features, featureKey: info.featureKey }
  if (features.cancelled) return out
  const samples = store.featureSamples(info.featureKey)
  const stored = store.head(info.featureKey)
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
  const head = trainHead(samples, {
    lambda,
    ...(options.signal ? { signal: options.signal } : {}),
  })
  out.trainMs = performance.now() - started
  store.saveHead(info.featureKey, fingerprint, head)
  out.head = store.head(info.featureKey)
  out.trained = true
  return out
}

/** The key that says exactly what makes a label's CAM: compared with the stored CAMs' keys. */
export function sourceKey(source: LabelSource, head?: Pick<StoredHead, 'fingerprint'>): string {
  if (source.kind === 'model')
    return `model:${[...source.classIndices].sort((a, b) => a - b).join(',')}`
  if (source.kind === 'learned') return `learned:${head?.fingerprint.slice(5, 21) ?? 'unknown'}`
  return 'agnostic'
}

/**
 * The labels that would use a learned head under this mode and these mappings (background never:
 * it is a negative class, not proposed).
 */
export function labelsNeedingHead(
  labels: readonly string[],
  classes: ModelClass[],
  mode: HeadMode,
  mappings: ReadonlyMap<string, LabelMapping>,
): string[] {
  const proposable = labels.filter((l) => !isBackgroundLabel(l))
  const everyLearned = new Map(
    proposable.map((l) => [l, { weights: new Float32Array(0), bias: 0 }]),
  )
  const sources = resolveLabelSources(proposable, classes, mode, everyLearned, mappings)
  return proposable.filter((l) => sources.get(l)?.kind === 'learned')
}

/** Checks a mapping against the model's classes (throws INVALID_ARGUMENT naming what is wrong). */
export function checkMapping(label: string, mapping: LabelMapping | 'auto', classes: ModelClass[]) {
  if (Array.isArray(mapping)) mappedClasses(label, mapping, classes)
}

/** One label's CAM source, as the user sees it (status command, the app's label list). */
export interface LabelSourceInfo {
  label: string
  images: number
  /** The user's choice: `auto` (none), `learn`, `agnostic` or the model classes named. */
  mapping: LabelMapping | 'auto'
  /** Where a proposal run (mode auto) takes this label's CAM from now. */
  source: LabelSource['kind'] | 'negatives'
  /** For `model`: the model classes' names; for `learned`: the head's CV accuracy of the class. */
  modelClasses?: string[]
  cvAccuracy?: number | null
  /** True when a run (mode auto) learns a head for this label: `agnostic` until one is trained. */
  needsHead: boolean
  /** The source kinds of the label's stored proposals (several when images differ). */
  proposedWith: string[]
}

/**
 * Every label of the project with its CAM source under mode `auto` (the default of a run), the
 * user's mapping, and the stored head's cross-validated accuracy where it learns the label.
 */
export async function projectLabelSources(
  store: ProjectStore,
  options: { model?: string } = {},
): Promise<{ model: string; head?: StoredHead; labels: LabelSourceInfo[] }> {
  const info = await projectModelInfo(options.model ?? store.getMeta(MODEL_META))
  const head = store.head(info.featureKey)
  const learned: Map<string, LearnedSource> = head ? headSources(head) : new Map()
  const mappings = store.labelMappings()
  const counts = store.counts().byClass.filter((c) => c.images > 0 || mappings.has(c.label))
  const sources = resolveLabelSources(
    counts.map((c) => c.label),
    info.classes,
    'auto',
    learned,
    mappings,
  )
  const stored = store.storedSourceKinds()
  // A single label has nothing to be told apart from: no head will be learned for it.
  const learnable = counts.filter((c) => c.images > 0).length >= 2
  const needing = new Set(
    labelsNeedingHead(
      counts.map((c) => c.label),
      info.classes,
      'auto',
      mappings,
    ),
  )
  const labels = counts.map((c): LabelSourceInfo => {
    const source = sources.get(c.label)!
    const entry: LabelSourceInfo = {
      label: c.label,
      images: c.images,
      mapping: mappings.get(c.label) ?? 'auto',
      source: isBackgroundLabel(c.label) ? 'negatives' : source.kind,
      proposedWith: [...(stored.get(c.label) ?? [])],
      needsHead: learnable && needing.has(c.label),
    }
    if (source.kind === 'model')
      entry.modelClasses = source.classIndices.map((i) => info.classes[i]?.names[0] ?? `#${i}`)
    const quality = head?.quality.classes.find((q) => q.name === c.label)
    if (quality && (source.kind === 'learned' || isBackgroundLabel(c.label)))
      entry.cvAccuracy = quality.cvAccuracy
    return entry
  })
  return { model: info.model, ...(head ? { head } : {}), labels }
}
