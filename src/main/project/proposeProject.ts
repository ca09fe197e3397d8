/**
 * A proposal run over a project: feeds the images this model revision has not processed yet to the
 * pipeline (inference in the worker thread) and persists each image's results — proposals,
 * low-resolution CAMs, the run mark — in one transaction as it arrives. Killed at any point, the
 * project keeps every image already persisted, and the next run starts where this one stopped.
 *
 * Before that, the run brings already-processed images in line with what it asks for: with a new
 * threshold, or back to bilinear upscaling, their boxes are recomputed from the stored CAMs (no
 * inference); with another upscale mode or working size in guided mode they run again (the guide
 * is the image); labels whose CAM source changed (a new mapping, a retrained head) are re-proposed
 * on the images that have them. Decisions are never touched. Where each label's CAM comes from is
 * the label planner's decision (labelPlan.ts); a head is learned first when it asks for one.
 *
 * Unless switched off, the run first learns from the project's reviewed boxes (reviewLearning.ts):
 * images not reviewed yet are proposed with that model, and those an older one (or none) made are
 * re-proposed. With a shard (shards.ts), only that shard's images are touched.
 */
import {
  isThreshold,
  DEFAULT_PROPOSAL_OPTIONS,
  type ProposalOptions,
} from '../../shared/cam/types.ts'
import { proposalsFromCam } from '../../shared/cam/proposals.ts'
import type { UpscaleMode } from '../../shared/cam/types.ts'
import { CamlabelError, toErrorData } from '../../shared/errors.ts'
import type { HeadMode, MappingChoice } from '../engine/labels.ts'
import { describeModel } from '../engine/modelInfo.ts'
import { modelIdentity, type ModelIdentity } from '../engine/modelIdentity.ts'
import type { ImageTask } from '../engine/propose.ts'
import type { ProviderChoice } from '../engine/session.ts'
import type { Report } from '../jobs/progress.ts'
import type { InferenceWorker } from '../jobs/worker.ts'
import type { LabelResult, ProjectStore, RedoImage, RunInfo } from '../store/projectStore.ts'
import { learnProjectHead, type LearnProjectResult } from './learnProject.ts'
import {
  checkMappings,
  planLabels,
  proposable,
  sourcesByKind,
  type LabelPlan,
} from './labelPlan.ts'
import {
  FROM_REVIEW_META,
  MODEL_META,
  projectFromReview,
  projectThreshold,
  projectUpscale,
  THRESHOLD_META,
  type FromReview,
} from './settings.ts'
import { learnFromReview, type ReviewLearning } from './reviewLearning.ts'
import { inShard, type Shard } from './shards.ts'
import { checkImages } from './imageFiles.ts'
import { lockProject } from './runLock.ts'
import { withWorker } from './workerScope.ts'

/** Options of proposeProject. */
export interface ProposeProjectOptions {
  /** Manifest id or .onnx path, or an identity (default: the manifest's default model). */
  model?: string | ModelIdentity
  /**
   * Box threshold (default: the project's last given threshold, else
   * DEFAULT_PROPOSAL_OPTIONS.threshold). When given, it is stored as the project's, and images this
   * model revision already processed at another threshold get their pending proposals recomputed.
   */
  threshold?: number
  workingSize?: number
  /** How CAMs become boxes (default: the project's setting, see projectUpscale). */
  upscale?: UpscaleMode
  head?: HeadMode
  providers?: ProviderChoice
  /**
   * Per-label CAM source choices to save in the project before the run (`auto` removes one);
   * stored choices of other labels stay and are used too.
   */
  mappings?: ReadonlyMap<string, MappingChoice>
  /** L2 strength of a head trained by this run (default DEFAULT_HEAD_LAMBDA). */
  lambda?: number
  /**
   * Whether proposals learn from the project's reviewed boxes (default: the project's setting,
   * 'auto' unless switched off). When given, it is stored as the project's.
   */
  fromReview?: FromReview
  /**
   * Only bring proposals in line with the reviewed boxes (re-propose images made by an older model
   * learned from reviews, or by none): no new images, no other redo. The app's background update.
   */
  reviewOnly?: boolean
  /**
   * The image open in review now (asked as the run plans, and again before each save): its
   * proposals are left for a later run, and the re-proposal starts after it.
   */
  openImage?: () => { id: number; file: string } | undefined
  /** Only the images of this shard (see shards.ts): the rest are left as they are. */
  shard?: Shard
  /** Stop after this many new images (for tests and trial runs). */
  limit?: number
  /** The inference worker to use (default: one started for this run and closed after it). */
  worker?: InferenceWorker
  signal?: AbortSignal
  /** Progress of every stage, the model once loaded, the head once learned. */
  report?: Report
}

/** What a run did. */
export interface ProposeProjectResult {
  model: string
  revision: string
  /** The settings the run used (threshold, upscale mode, working size). */
  run: RunInfo
  provider?: string
  /** Images this run processed (persisted), those it could not read included. */
  done: number
  failed: number
  /** Images whose file changed on disk since their import: re-read, and proposed again. */
  changed: string[]
  /** Images skipped because this model revision already processed them as asked. */
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
  /** Labels by the kind of their CAM source in this run. */
  sources: ReturnType<typeof sourcesByKind>
  /** The feature pass and training before the run (absent when no label needed a head). */
  learn?: LearnProjectResult
  /** What the run learned from reviewed boxes (absent when switched off). */
  review?: ReviewLearning
  /**
   * Images already proposed whose proposals were replaced because the model learned from reviews
   * changed (or learning from reviews was switched off).
   */
  relearned: number
  /** Images this run proposed with the model learned from reviews (new and re-proposed ones). */
  fromReviewImages: number
  proposals: number
  jobId: number
  cancelled: boolean
}

/** Images recomputed per transaction (one fsync each); the event loop gets a turn between. */
const RECOMPUTE_BATCH = 128

/**
 * Recomputes, without inference, the pending proposals of `images` from the low-resolution CAMs
 * stored with their classifier confidence: the bilinear path of the pipeline. Each image keeps its
 * own threshold unless `rethreshold`. Works in batches (one transaction each), yielding to the
 * event loop between them so progress shows and a cancel is heard. Returns how many images were
 * recomputed (fewer when cancelled: the next run recomputes the rest).
 */
export async function recomputeFromCams(
  store: ProjectStore,
  run: RunInfo,
  images: readonly RedoImage[],
  options: { rethreshold: boolean; signal?: AbortSignal; report?: Report; batchSize?: number },
): Promise<number> {
  const size = Math.max(1, options.batchSize ?? RECOMPUTE_BATCH)
  const proposal: ProposalOptions = {
    ...DEFAULT_PROPOSAL_OPTIONS,
    workingSize: run.workingSize ?? DEFAULT_PROPOSAL_OPTIONS.workingSize,
  }
  let done = 0
  for (let i = 0; i < images.length; i += size) {
    if (options.signal?.aborted) break
    store.transaction(() => {
      for (const im of images.slice(i, i + size)) {
        const threshold = options.rethreshold ? run.threshold : im.threshold
        const results = store.runs.cams(im.id, run).map((c) => ({
          label: c.label,
          proposals: proposalsFromCam(
            c.cam,
            im.width,
            im.height,
            { ...proposal, threshold },
            c.confidence,
          ),
        }))
        store.runs.recompute(im.id, { ...run, threshold }, results)
      }
    })
    done = Math.min(images.length, i + size)
    options.report?.({
      type: 'progress',
      stage: 'recompute',
      done,
      total: images.length,
      failed: 0,
    })
    await new Promise(setImmediate)
  }
  return done
}

/** The run's settings: given ones, else the project's, else the defaults. */
function runSettings(
  store: ProjectStore,
  options: ProposeProjectOptions,
  identity: ModelIdentity,
): RunInfo {
  if (options.threshold !== undefined && !isThreshold(options.threshold))
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `The threshold must be between 0.01 and 0.99, got ${options.threshold}`,
    )
  // No threshold given: the project's last one, so new images and re-proposed labels match the
  // images already proposed (and the run mark keeps each image's threshold).
  const threshold =
    options.threshold ?? projectThreshold(store) ?? DEFAULT_PROPOSAL_OPTIONS.threshold
  return {
    model: identity.ref,
    revision: identity.revision,
    threshold,
    upscale: options.upscale ?? projectUpscale(store),
    workingSize: options.workingSize ?? DEFAULT_PROPOSAL_OPTIONS.workingSize,
  }
}

/**
 * Runs the proposal pipeline over the project's images that still need it (see the module
 * comment). `signal` cancels after the image in flight; everything persisted stays.
 */
export async function proposeProject(
  store: ProjectStore,
  options: ProposeProjectOptions = {},
): Promise<ProposeProjectResult> {
  const release = lockProject(store, 'propose')
  try {
    return await propose(store, options)
  } finally {
    release()
  }
}

async function propose(
  store: ProjectStore,
  options: ProposeProjectOptions,
): Promise<ProposeProjectResult> {
  const identity = typeof options.model === 'object' ? options.model : modelIdentity(options.model)
  const run = runSettings(store, options, identity)
  const { signal, report } = options
  const mode = options.head ?? 'auto'
  const info = await describeModel(identity)
  if (options.threshold !== undefined) store.setMeta(THRESHOLD_META, String(options.threshold))
  if (options.fromReview !== undefined) store.setMeta(FROM_REVIEW_META, options.fromReview)
  const fromReview = options.fromReview ?? projectFromReview(store)
  store.setMeta(MODEL_META, identity.ref)
  if (options.mappings) {
    checkMappings(options.mappings, info.classes)
    store.transaction(() => {
      for (const [label, mapping] of options.mappings!) store.labels.setMapping(label, mapping)
    })
  }
  const mappings = store.labels.mappings()
  const labels = store.labels.withImages().map((l) => l.label)

  return withWorker(options.worker, async (worker) => {
    // A learned head for the labels that need one: features extracted when missing, trained when
    // the images or labels changed, else the stored head as it is.
    let plan: LabelPlan = planLabels(labels, { classes: info.classes, mode, mappings })
    let learn: LearnProjectResult | undefined
    let provider: string | undefined
    const onReport: Report = (e) => {
      if (e.type === 'ready') provider = e.info.provider
      report?.(e)
    }
    if (plan.needHead.length > 0) {
      // A single label has nothing to be told apart from: learnProjectHead only says so.
      if (labels.length >= 2) report?.({ type: 'learning', labels: plan.needHead })
      learn = await learnProjectHead(store, {
        model: identity,
        worker,
        ...(options.providers ? { providers: options.providers } : {}),
        ...(options.lambda !== undefined ? { lambda: options.lambda } : {}),
        ...(signal ? { signal } : {}),
        report: onReport,
      })
      report?.({ type: 'learned', learn, labels: plan.needHead })
      if (learn.features?.cancelled) return cancelledBeforeRun(store, run, plan, learn)
      plan = planLabels(labels, { classes: info.classes, mode, mappings, head: learn.head })
    }
    const learnedLabels = [...plan.sources].filter(([, s]) => s.kind === 'learned').map(([l]) => l)
    // Every image through the path check, and files changed since their import re-read (their
    // old proposals dropped, so they are proposed below like new ones).
    const check = await checkImages(store, store.images.all(), { update: true })
    const unusable = new Map(check.failed.map((f) => [f.id, f]))

    // The model learned from reviewed boxes, brought up to date first; the images it proposes for
    // are those not reviewed yet (a reviewed image's boxes are the user's).
    const proposal = {
      ...DEFAULT_PROPOSAL_OPTIONS,
      threshold: run.threshold,
      workingSize: run.workingSize!,
    }
    const review =
      fromReview === 'auto'
        ? await learnFromReview(store, {
            model: identity,
            featureKey: info.featureKey,
            plan,
            proposal,
            paths: check.paths,
            worker,
            ...(options.providers ? { providers: options.providers } : {}),
            ...(signal ? { signal } : {}),
            ...(report ? { report } : {}),
          })
        : undefined
    const reviewKey = review?.model?.key ?? null
    const reviewRun: RunInfo = review?.model
      ? { ...run, threshold: review.model.head.level, reviewKey }
      : { ...run, reviewKey: null }
    // Images already processed another way: another upscale mode or working size, or (only when a
    // threshold is given) another threshold. Bilinear: recomputed from the stored CAMs at once.
    // Guided: run again below (the refinement needs the decoded image as its guide). Measured per
    // image, SqueezeNet fp16 on 2 CPU cores, one label: decode + guide 10 ms, forward 12.6 ms,
    // refine 10 ms. Refining the stored CAM after a fresh decode would skip only the forward pass
    // (~40 % here) at the cost of a second code path; re-running keeps one path.
    const rethreshold = options.threshold !== undefined
    const mine = <T extends { file: string }>(list: T[]): T[] =>
      options.shard ? list.filter((t) => inShard(t.file, options.shard!)) : list
    const redo = options.reviewOnly ? [] : mine(store.runs.toRedo(run, rethreshold))
    const recomputed =
      run.upscale === 'bilinear'
        ? await recomputeFromCams(store, run, redo, {
            rethreshold,
            ...(signal ? { signal } : {}),
            ...(report ? { report } : {}),
          })
        : 0
    if (signal?.aborted) return { ...cancelledBeforeRun(store, run, plan, learn), recomputed }
    const rerun = (run.upscale === 'guided' ? redo : [])
      .map((t) => ({ ...t, labels: proposable(t.labels) }))
      .filter((t) => t.labels.length > 0)
    const rerunIds = new Set(rerun.map((t) => String(t.id)))
    // Images not reviewed yet made by another model learned from reviews (or by none, or by one
    // now switched off): re-proposed in review order, starting after the open image.
    const open = options.openImage?.()
    const relearn = mine(
      store.runs.toRelearn(run, reviewKey, open ? { after: open.file, skip: open.id } : {}),
    )
      .map((t) => ({ ...t, labels: proposable(t.labels) }))
      .filter((t) => t.labels.length > 0 && !rerunIds.has(String(t.id)))
    const relearnIds = new Set(relearn.map((t) => String(t.id)))
    // Labels whose source changed since their CAMs were stored: re-proposed for those labels only
    // (an image run again in full needs no separate pass).
    const stale = options.reviewOnly
      ? []
      : mine(store.runs.staleLabelImages(run.model, run.revision, plan.keys))
          .map((t) => ({ ...t, labels: proposable(t.labels) }))
          .filter(
            (t) =>
              t.labels.length > 0 && !rerunIds.has(String(t.id)) && !relearnIds.has(String(t.id)),
          )
    const staleIds = new Set(stale.map((t) => String(t.id)))
    const todo = options.reviewOnly ? [] : mine(store.runs.toPropose(run.model, run.revision))
    const labelled = todo.filter((t) => proposable(t.labels).length > 0)
    const selected = options.limit !== undefined ? labelled.slice(0, options.limit) : labelled
    // An image whose file cannot be used fails this run with the reason (a new one is marked, so a
    // resumed run does not retry it until the file changes); one already proposed keeps its boxes.
    let failedFiles = 0
    store.transaction(() => {
      for (const t of selected) {
        const f = unusable.get(t.id)
        if (f) {
          store.runs.markFailed(t.id, run, f)
          failedFiles++
        }
      }
    })
    // The images proposals learn from keep plain CAMs: their boxes are the user's.
    const reviewed = review?.model ? store.reviewCells.reviewedIds() : new Set<number>()
    const tasks: ImageTask[] = [...relearn, ...rerun, ...stale, ...selected]
      .filter((t) => !unusable.has(t.id))
      .map((t) => ({
        key: String(t.id),
        path: check.paths.get(t.id)!,
        labels: proposable(t.labels),
        ...(reviewed.has(t.id) ? { plain: true } : {}),
      }))
    const result: ProposeProjectResult = {
      model: run.model,
      revision: run.revision,
      run,
      done: failedFiles,
      failed: failedFiles,
      changed: check.changed.map((c) => c.file),
      alreadyDone: Math.max(
        0,
        store.images.count() -
          todo.length -
          recomputed -
          rerun.length -
          stale.length -
          relearn.length,
      ),
      recomputed,
      reproposed: 0,
      unlabelled: todo.length - labelled.length,
      resourced: 0,
      learnedLabels,
      sources: sourcesByKind(plan),
      ...(learn ? { learn } : {}),
      ...(review ? { review } : {}),
      relearned: 0,
      fromReviewImages: 0,
      proposals: 0,
      jobId: store.jobs.start('propose', { ...run }, tasks.length),
      cancelled: false,
    }
    if (provider) result.provider = provider
    if (tasks.length === 0) {
      store.jobs.finish(result.jobId, 'done')
      return result
    }
    report?.({ type: 'progress', stage: 'loading-model', done: 0, total: tasks.length, failed: 0 })
    try {
      for await (const r of worker.propose(tasks, {
        model: identity,
        providers: options.providers ?? 'auto',
        proposal,
        upscale: run.upscale!,
        sources: plan.sources,
        ...(review?.model ? { objectness: review.model.head } : {}),
        ...(signal ? { signal } : {}),
        onReady: (info) => {
          result.provider = info.provider
          report?.({ type: 'ready', info })
          report?.({
            type: 'progress',
            stage: 'proposing',
            done: 0,
            total: tasks.length,
            failed: 0,
          })
        },
      })) {
        const imageId = Number(r.key)
        store.transaction(() => {
          const labelResults: LabelResult[] = r.labels.map((l) => ({
            ...l,
            ...(plan.keys.has(l.label) ? { sourceKey: plan.keys.get(l.label)! } : {}),
          }))
          if (r.error) {
            // An image already processed keeps its run mark (its other labels' proposals stand),
            // and so does one run again: its previous proposals stay.
            if (!staleIds.has(r.key) && !rerunIds.has(r.key) && !relearnIds.has(r.key))
              store.runs.markFailed(imageId, run, r.error)
            result.failed++
          } else {
            // A reviewed image (new to this model revision) keeps plain CAMs: its boxes are the
            // user's, and its proposals are not what the model learned from reviews is for.
            const saveRun = reviewed.has(imageId) ? { ...run, reviewKey: null } : reviewRun
            // Opened since the run planned: it keeps its boxes until a later update.
            const opened = relearnIds.has(r.key) && options.openImage?.()?.id === imageId
            if (!opened) {
              if (relearnIds.has(r.key)) {
                store.runs.repropose(imageId, saveRun, labelResults)
                result.relearned++
              } else if (rerunIds.has(r.key)) {
                store.runs.repropose(imageId, saveRun, labelResults)
                result.reproposed++
              } else if (staleIds.has(r.key)) {
                const labels = new Set(labelResults.map((l) => l.label))
                store.runs.save(imageId, saveRun, labelResults, labels)
                result.resourced++
              } else store.runs.save(imageId, saveRun, labelResults)
              if (saveRun.reviewKey) result.fromReviewImages++
              result.proposals += r.labels.reduce((n, l) => n + l.proposals.length, 0)
            }
          }
          result.done++
          store.jobs.progress(result.jobId, result.done, result.failed)
        })
        report?.({
          type: 'progress',
          stage: 'proposing',
          done: result.done,
          total: tasks.length,
          failed: result.failed,
        })
      }
    } catch (err) {
      const data = toErrorData(err)
      if (data.code === 'CANCELLED' || signal?.aborted) {
        result.cancelled = true
        store.jobs.finish(result.jobId, 'cancelled')
        return result
      }
      store.jobs.finish(result.jobId, 'failed', data.message)
      throw err
    }
    result.cancelled = signal?.aborted ?? false
    store.jobs.finish(result.jobId, result.cancelled ? 'cancelled' : 'done')
    return result
  })
}

/** The result of a run cancelled before proposing (during its feature pass or recompute). */
function cancelledBeforeRun(
  store: ProjectStore,
  run: RunInfo,
  plan: LabelPlan,
  learn: LearnProjectResult | undefined,
): ProposeProjectResult {
  const jobId = store.jobs.start('propose', { ...run }, 0)
  store.jobs.finish(jobId, 'cancelled')
  return {
    model: run.model,
    revision: run.revision,
    run,
    done: 0,
    failed: 0,
    alreadyDone: 0,
    recomputed: 0,
    reproposed: 0,
    unlabelled: 0,
    resourced: 0,
    changed: [],
    learnedLabels: [],
    sources: sourcesByKind(plan),
    ...(learn ? { learn } : {}),
    relearned: 0,
    fromReviewImages: 0,
    proposals: 0,
    jobId,
    cancelled: true,
  }
}
