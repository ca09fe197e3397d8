/**
 * A proposal run over a project: feeds the images that this model revision has not processed yet
 * to the pipeline (inference in a worker thread) and persists each image's results — proposals,
 * low-resolution CAMs, the run mark — in one transaction as it arrives. Killed at any point, the
 * project keeps every image already persisted, and the next run starts where this one stopped.
 * A run with another threshold over images already processed by the same model revision
 * recomputes their boxes from the stored CAMs instead of running the model again.
 *
 * Labels the model does not know get a learned CAM head (mode auto or learn): the project's cached
 * features (extracted once, see learnProject.ts) and its image labels train a head, stored and reused
 * until the labels or images change. The user's per-label mapping is stored in the project. When a
 * label's CAM source changes (a new mapping, a retrained head, another mode), the pending proposals
 * of that label are re-proposed on the images that have it; decisions are kept.
 */
import { toErrorData } from '../../shared/errors.ts'
import { headSources, isBackgroundLabel } from '../engine/head.ts'
import { resolveLabelSources, type HeadMode, type LabelMapping } from '../engine/labels.ts'
import { proposalsFromCam, type ImageTask, type UpscaleMode } from '../engine/propose.ts'
import type { ProviderChoice } from '../engine/session.ts'
import { DEFAULT_PROPOSAL_OPTIONS, type ProposalOptions } from '../engine/types.ts'
import { runProposalJob } from '../jobs/proposalJob.ts'
import type { ReadyInfo } from '../jobs/protocol.ts'
import type { LabelResult, ProjectStore, RedoImage, RunInfo } from '../store/projectStore.ts'
import {
  checkMapping,
  labelsNeedingHead,
  learnProjectHead,
  MODEL_META,
  projectLabels,
  projectModelInfo,
  sourceKey,
  type LearnProjectResult,
} from './learnProject.ts'
import { modelRevision } from './modelRevision.ts'
import { projectThreshold, projectUpscale, THRESHOLD_META } from './settings.ts'

/** Options of proposeProject. */
export interface ProposeProjectOptions {
  /** Manifest id or .onnx path (default: the manifest's default model). */
  model?: string
  /**
   * Box threshold (default: the project's last given threshold, else
   * DEFAULT_PROPOSAL_OPTIONS.threshold). When given, it is stored as the project's, and images this model
   * revision already processed at another threshold get their pending proposals recomputed from
   * the stored CAMs (no inference; decided boxes kept).
   */
  threshold?: number
  workingSize?: number
  /**
   * How CAMs become boxes (default: the project's setting, see projectUpscale). Images this model
   * revision processed with another mode or working size are re-proposed: a bilinear run
   * recomputes them from their stored CAMs, a guided one runs them again (the guide is the image).
   */
  upscale?: UpscaleMode
  head?: HeadMode
  providers?: ProviderChoice
  /**
   * Per-label CAM source choices to save in the project before the run (`auto` removes one);
   * stored choices of other labels stay and are used too.
   */
  mappings?: ReadonlyMap<string, LabelMapping | 'auto'>
  /** L2 strength of a head trained by this run (default DEFAULT_HEAD_LAMBDA). */
  lambda?: number
  /** Stop after this many images (for tests and trial runs). */
  limit?: number
  onReady?: (info: ReadyInfo) => void
  /** Progress of the feature pass that precedes learning a head (only when features are missing). */
  onFeatureProgress?: (p: ProposeProgress) => void
  /** Called once the learned head is ready (trained now or reused), before proposing. */
  onLearned?: (learn: LearnProjectResult, labels: string[]) => void
}

/** Progress of a project run. */
export interface ProposeProgress {
  /** 'recompute': boxes recomputed from stored CAMs (no inference); absent: proposing. */
  stage?: 'recompute'
  done: number
  total: number
  failed: number
}

/** What a run did. */
export interface ProposeProjectResult {
  model: string
  revision: string
  provider?: string
  /** Images this run processed (persisted). */
  done: number
  failed: number
  /** Images skipped because this model revision already processed them at this threshold. */
  alreadyDone: number
  /** Images whose pending proposals were recomputed from stored CAMs (another threshold, or back to bilinear). */
  recomputed: number
  /** Images already processed another way (upscale mode, working size) run again by this run. */
  reproposed: number
  /** Images without any label to propose (none, or only 'background' negatives). */
  unlabelled: number
  /** Images whose proposals for some labels were redone because those labels' CAM source changed. */
  resourced: number
  /** Labels whose CAMs come from the learned head in this run. */
  learnedLabels: string[]
  /** The feature pass and training before the run (absent when no label needed a head). */
  learn?: LearnProjectResult
  proposals: number
  jobId: number
  cancelled: boolean
}

export { modelRevision } from './modelRevision.ts'

/** Images recomputed per transaction (one fsync each); the event loop gets a turn between. */
const RECOMPUTE_BATCH = 128

/** Options of recomputeFromCams. */
export interface RecomputeOptions {
  /** The images to recompute (default: store.imagesToRedo(run, rethreshold)). */
  images?: RedoImage[]
  /** Recompute at the run's threshold (default true); false keeps each image's own. */
  rethreshold?: boolean
  /** Stops between batches; the batches done stay. */
  signal?: AbortSignal
  /** Called after each batch. */
  onProgress?: (p: ProposeProgress) => void
  /** Images per transaction (default 128). */
  batchSize?: number
}

/**
 * Recomputes, without inference, the pending proposals of images this run's model revision
 * processed another way (see ProjectStore.imagesToRedo), from the low-resolution CAMs stored with
 * their classifier confidence: the bilinear path of the pipeline, so only a bilinear run does this
 * (a guided run needs the image as its guide and runs those images again; returns 0). Each image
 * keeps its own threshold unless `rethreshold`. Review decisions are kept (see
 * replacePendingProposals). Works in batches (one transaction each), yielding to the event loop
 * between them so progress shows and a cancel is heard. Returns how many images were recomputed
 * (fewer than asked when cancelled: the rest are recomputed by the next run).
 */
export async function recomputeFromCams(
  store: ProjectStore,
  run: RunInfo,
  proposal: ProposalOptions,
  options: RecomputeOptions = {},
): Promise<number> {
  if ((run.upscale ?? 'bilinear') !== 'bilinear') return 0
  const rethreshold = options.rethreshold ?? true
  const images = options.images ?? store.imagesToRedo(run, rethreshold)
  const size = Math.max(1, options.batchSize ?? RECOMPUTE_BATCH)
  let done = 0
  for (let i = 0; i < images.length; i += size) {
    if (options.signal?.aborted) break
    store.transaction(() => {
      for (const im of images.slice(i, i + size)) {
        const threshold = rethreshold ? run.threshold : im.threshold
        const results = store.cams(im.id, run).map((c) => ({
          label: c.label,
          proposals: proposalsFromCam(
            c.cam,
            im.width,
            im.height,
            { ...proposal, threshold },
            c.confidence,
          ),
        }))
        store.replacePendingProposals(im.id, { ...run, threshold }, results)
      }
    })
    done = Math.min(images.length, i + size)
    options.onProgress?.({ stage: 'recompute', done, total: images.length, failed: 0 })
    await new Promise(setImmediate)
  }
  return done
}

/**
 * Runs the proposal pipeline over the project's images that still need it (after recomputing,
 * when a threshold is given, those already processed at another one).
 * @param report called after each persisted image
 * @param signal cancels after the image in flight; everything persisted stays
 */
export async function proposeProject(
  store: ProjectStore,
  options: ProposeProjectOptions,
  report: (p: ProposeProgress) => void = () => undefined,
  signal?: AbortSignal,
): Promise<ProposeProjectResult> {
  const { model, revision } = modelRevision(options.model)
  // No threshold given: the project's last one, so new images and re-proposed labels match the
  // images already proposed (and the run mark keeps each image's threshold).
  const threshold =
    options.threshold ?? projectThreshold(store) ?? DEFAULT_PROPOSAL_OPTIONS.threshold
  if (options.threshold !== undefined) store.setMeta(THRESHOLD_META, String(options.threshold))
  const upscale = options.upscale ?? projectUpscale(store)
  const workingSize = options.workingSize ?? DEFAULT_PROPOSAL_OPTIONS.workingSize
  const run: RunInfo = { model, revision, threshold, upscale, workingSize }
  const mode = options.head ?? 'auto'
  const info = await projectModelInfo(model)
  store.setMeta(MODEL_META, model)
  if (options.mappings) {
    for (const [label, mapping] of options.mappings) checkMapping(label, mapping, info.classes)
    store.transaction(() => {
      for (const [label, mapping] of options.mappings!) store.setLabelMapping(label, mapping)
    })
  }
  const mappings = store.labelMappings()
  const labels = projectLabels(store)

  // A learned head for the labels that need one: features extracted when missing, trained when the
  // images or labels changed, else the stored head as it is.
  let learn: LearnProjectResult | undefined
  const needHead = labelsNeedingHead(labels, info.classes, mode, mappings)
  if (needHead.length > 0) {
    learn = await learnProjectHead(store, {
      model,
      ...(options.providers ? { providers: options.providers } : {}),
      ...(options.lambda !== undefined ? { lambda: options.lambda } : {}),
      ...(signal ? { signal } : {}),
      ...(options.onFeatureProgress ? { onProgress: options.onFeatureProgress } : {}),
    })
    options.onLearned?.(learn, needHead)
    if (learn.features?.cancelled) return { ...cancelledBeforeRun(store, run), learn }
  }
  const head = learn?.head
  const learned = head ? headSources(head) : new Map()
  const sources = resolveLabelSources(labels, info.classes, mode, learned, mappings)
  const keys = new Map([...sources].map(([label, source]) => [label, sourceKey(source, head)]))
  const learnedLabels = [...sources].filter(([, s]) => s.kind === 'learned').map(([l]) => l)

  // Images already processed another way: another upscale mode or working size, or (only when a
  // threshold is given) another threshold. Bilinear: recomputed from the stored CAMs at once.
  // Guided: run again below (the refinement needs the decoded image as its guide). Measured per
  // image, SqueezeNet fp16 on 2 CPU cores, one label: decode + guide 10 ms, forward 12.6 ms,
  // refine 10 ms. Refining the stored CAM after a fresh decode would skip only the forward pass
  // (~40 % here) at the cost of a second code path; re-running keeps one path.
  const redo = store.imagesToRedo(run, options.threshold !== undefined)
  const proposal = { ...DEFAULT_PROPOSAL_OPTIONS, threshold, workingSize }
  const recomputed = await recomputeFromCams(store, run, proposal, {
    images: redo,
    rethreshold: options.threshold !== undefined,
    onProgress: report,
    ...(signal ? { signal } : {}),
  })
  if (signal?.aborted) return { ...cancelledBeforeRun(store, run), recomputed }
  const proposable = (ls: string[]) => ls.filter((l) => !isBackgroundLabel(l))
  const rerun = (upscale === 'guided' ? redo : [])
    .map((t) => ({ ...t, labels: proposable(t.labels) }))
    .filter((t) => t.labels.length > 0)
  const rerunIds = new Set(rerun.map((t) => String(t.id)))
  // Labels whose source changed since their CAMs were stored: re-proposed for those labels only
  // (an image run again in full needs no separate pass).
  const stale = store
    .staleLabelImages(model, revision, keys)
    .map((t) => ({ ...t, labels: proposable(t.labels) }))
    .filter((t) => t.labels.length > 0 && !rerunIds.has(String(t.id)))
  const staleIds = new Set(stale.map((t) => String(t.id)))
  const todo = store.imagesToPropose(model, revision)
  const labelled = todo.filter((t) => proposable(t.labels).length > 0)
  const selected = options.limit !== undefined ? labelled.slice(0, options.limit) : labelled
  const tasks: ImageTask[] = [...rerun, ...stale, ...selected].map((t) => ({
    key: String(t.id),
    path: store.imagePath(t.file),
    labels: proposable(t.labels),
  }))
  const result: ProposeProjectResult = {
    model,
    revision,
    done: 0,
    failed: 0,
    alreadyDone: Math.max(
      0,
      store.imageCount() - todo.length - recomputed - rerun.length - stale.length,
    ),
    recomputed,
    reproposed: 0,
    unlabelled: todo.length - labelled.length,
    resourced: 0,
    learnedLabels,
    ...(learn ? { learn } : {}),
    proposals: 0,
    jobId: store.startJob(
      'propose',
      { model, revision, threshold, upscale, workingSize },
      tasks.length,
    ),
    cancelled: false,
  }
  if (tasks.length === 0) {
    store.finishJob(result.jobId, 'done')
    return result
  }
  try {
    for await (const r of runProposalJob(tasks, {
      model,
      providers: options.providers,
      proposal: { threshold, workingSize },
      upscale,
      head: mode,
      learned,
      mappings,
      signal,
      onReady: (info) => {
        result.provider = info.provider
        options.onReady?.(info)
      },
    })) {
      const imageId = Number(r.key)
      const resourcing = staleIds.has(r.key)
      const rerunning = rerunIds.has(r.key)
      store.transaction(() => {
        const labelResults: LabelResult[] = r.labels.map((l) => ({
          ...l,
          ...(keys.has(l.label) ? { sourceKey: keys.get(l.label)! } : {}),
        }))
        if (r.error) {
          // An image already processed keeps its run mark (its other labels' proposals stand).
          // An image run again keeps its previous proposals (and run mark) too.
          if (!resourcing && !rerunning) store.markRunFailed(imageId, run, r.error.message)
          result.failed++
        } else {
          if (rerunning) {
            store.reproposeImage(imageId, run, labelResults)
            result.reproposed++
          } else if (resourcing) {
            store.saveLabelProposals(imageId, run, labelResults)
            result.resourced++
          } else store.saveProposals(imageId, run, labelResults)
          result.proposals += r.labels.reduce((n, l) => n + l.proposals.length, 0)
        }
        result.done++
        store.progressJob(result.jobId, result.done, result.failed)
      })
      report({ done: result.done, total: tasks.length, failed: result.failed })
    }
  } catch (err) {
    const data = toErrorData(err)
    if (data.code === 'CANCELLED' || signal?.aborted) {
      result.cancelled = true
      store.finishJob(result.jobId, 'cancelled')
      return result
    }
    store.finishJob(result.jobId, 'failed', data.message)
    throw err
  }
  result.cancelled = signal?.aborted ?? false
  store.finishJob(result.jobId, result.cancelled ? 'cancelled' : 'done')
  return result
}

/** The result of a run cancelled before proposing (during its feature pass or recompute). */
function cancelledBeforeRun(store: ProjectStore, run: RunInfo): ProposeProjectResult {
  const jobId = store.startJob('propose', { ...run }, 0)
  store.finishJob(jobId, 'cancelled')
  return {
    model: run.model,
    revision: run.revision,
    done: 0,
    failed: 0,
    alreadyDone: 0,
    recomputed: 0,
    reproposed: 0,
    unlabelled: 0,
    resourced: 0,
    learnedLabels: [],
    proposals: 0,
    jobId,
    cancelled: true,
  }
}
