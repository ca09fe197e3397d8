/**
 * The proposal pipeline: decode → tensor → forward → each label's low-resolution map → upscale →
 * boxes. Decoding runs a few images ahead of the forward pass (prefetch.ts). Only the forward pass
 * and the label maps need the model; decoding and the box stage (upscaling and boxes, the costly
 * part with guided upscaling: a pure function of a plain BoxJob) can run on other threads, which
 * the inference worker does (jobs/imagePool.ts) so that its forward passes never wait for them.
 */
import { CamlabelError, toErrorData, type ErrorData } from '../../shared/errors.ts'
import { agnosticCam, camForClass, camFromFeatures, weightedCam } from './cam.ts'
import { proposalsFromMap } from '../../shared/cam/boxes.ts'
import { normaliseByMax, upscaleForBoxes } from '../../shared/cam/proposals.ts'
import type { LabelSource } from './labels.ts'
import { poolFeatureMaps } from './features.ts'
import { combineMaps, objectnessMap, type ObjectnessHead } from './objectness.ts'
import { isFailure, prefetchImages, type Prefetched, type Prepare } from './prefetch.ts'
import type { PreparedImage } from './preprocess.ts'
import { refineCam, type GuideImage, type RefineParams } from './refine.ts'
import type { LoadedModel } from './session.ts'
import type { UpscaleMode } from '../../shared/cam/types.ts'
import type { ForwardResult, Map2D, ProposalOptions, RawProposal } from './types.ts'

/** One image to propose boxes for; `key` is the caller's id (a relative path, a row id). */
export interface ImageTask {
  key: string
  path: string
  labels: string[]
  /** Plain CAMs even when the request has a head learned from reviews (a reviewed image). */
  plain?: boolean
}

/** One label's low-resolution map, before upscaling. */
export interface LabelMap {
  label: string
  source: LabelSource['kind']
  /** How sure the classifier is that the label is present (0..1). */
  confidence: number
  /** The low-resolution CAM, divided by its max (so the max is 1), kept to recompute boxes later. */
  cam: Map2D
}

export interface LabelProposals extends LabelMap {
  proposals: RawProposal[]
}

/** The box stage's input for one image: plain data, so it can be posted to another thread. */
export interface BoxJob {
  /** The image's displayed size: boxes are in its pixels. */
  width: number
  height: number
  /** The image at the working size (guided upscaling only). */
  guide?: GuideImage
  /** Each label's map and confidence; `boxesFor` answers one proposal list per entry, in order. */
  maps: { cam: Map2D; confidence: number }[]
  /** The box procedure's options (a learned head's level already set as the threshold). */
  proposal: ProposalOptions
  upscale?: UpscaleMode
  refine?: Partial<RefineParams>
}

/** Runs the box stage somewhere (another thread); resolves to boxesFor(job). */
export type BoxStage = (job: BoxJob) => Promise<RawProposal[][]>

export interface ImageResult {
  key: string
  path: string
  /** Size as displayed (after EXIF orientation); 0 when the image could not be read. */
  width: number
  height: number
  labels: LabelProposals[]
  warnings: string[]
  /** Set when this image failed; the batch goes on. */
  error?: ErrorData
}

export interface ProposeOptions {
  proposal: ProposalOptions
  /** The CAM source of each label (see resolveLabelSources). */
  sources: (label: string) => LabelSource
  upscale?: UpscaleMode
  /** Parameters of the guided upscaler (its threshold follows `proposal.threshold`). */
  refine?: Partial<RefineParams>
  /**
   * The head learned from the project's reviewed boxes (objectness.ts): each label's map becomes
   * its CAM combined with the head's map, cut at the head's level instead of `proposal.threshold`.
   */
  objectness?: ObjectnessHead
  /** How many images are decoded ahead of the forward pass. */
  prefetch?: number
  /** Where images are decoded; prepareImage on this thread when not given. */
  prepare?: Prepare
  /** Where the box stage runs; on this thread, between forward passes, when not given. */
  boxes?: BoxStage
  /** How many images may be in the box stage at once (with `boxes`; default 4). */
  inFlight?: number
  /**
   * Images per forward pass, for models that take any batch size (MobileNetV2: about a fifth less
   * CPU per image at 4 than at 1, and the same outputs); 1 for a model with a fixed batch.
   */
  batch?: number
  signal?: AbortSignal
  onProgress?: (progress: { done: number; total: number; failed: number }) => void
}

/**
 * Runs the pipeline over `tasks`, yielding one result per task in task order. With `options.boxes`
 * the box stage of up to `inFlight` images runs elsewhere while the next forward passes run here.
 */
export async function* proposeImages(
  model: LoadedModel,
  tasks: readonly ImageTask[],
  options: ProposeOptions,
): AsyncGenerator<ImageResult> {
  const guideSize = options.upscale === 'guided' ? options.proposal.workingSize : undefined
  const stage: BoxStage = options.boxes ?? ((job) => Promise.resolve(boxesFor(job)))
  const batch = model.spec.fixedBatch === undefined ? Math.max(1, options.batch ?? 1) : 1
  const window = Math.max(batch, options.boxes ? (options.inFlight ?? 4) : 1)
  let failed = 0
  let done = 0
  const images = prefetchImages(tasks, model.spec.preprocessing, {
    depth: Math.max(batch, options.prefetch ?? 3),
    ...(guideSize ? { guideSize } : {}),
    ...(options.prepare ? { prepare: options.prepare } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  })
  const pending: Promise<ImageResult>[] = []
  const settle = (result: ImageResult): ImageResult => {
    if (result.error) failed++
    options.onProgress?.({ done: ++done, total: tasks.length, failed })
    return result
  }
  let group: Prefetched<ImageTask>[] = []
  for await (const item of images) {
    group.push(item)
    if (group.length < batch && item.index < tasks.length - 1) continue
    const forwards = forwardGroup(model, group)
    group.forEach((g, k) =>
      pending.push(startImage(g.task, g.prepared, forwards[k], model, options, stage)),
    )
    group = []
    while (pending.length >= window) yield settle(await pending.shift()!)
  }
  while (pending.length > 0) yield settle(await pending.shift()!)
}

/**
 * One forward pass over the group's decoded images (stacked when there are several): a promise of
 * each one's forward result, in group order; undefined where decoding failed.
 */
function forwardGroup(
  model: LoadedModel,
  group: Prefetched<ImageTask>[],
): (Promise<ForwardResult> | undefined)[] {
  const ready = group.flatMap((g) => (isFailure(g.prepared) ? [] : [g.prepared]))
  let results: Promise<ForwardResult[]> = Promise.resolve([])
  if (ready.length === 1) results = model.forward(ready[0]!.tensor).then((r) => [r])
  else if (ready.length > 1) {
    const size = ready[0]!.tensor.length
    const stacked =
      ready[0]!.tensor instanceof Uint16Array
        ? new Uint16Array(size * ready.length)
        : new Float32Array(size * ready.length)
    ready.forEach((p, b) => stacked.set(p.tensor, b * size))
    results = model.forwardBatch(stacked, ready.length)
  }
  let next = 0
  return group.map((g) => {
    if (isFailure(g.prepared)) return undefined
    const index = next++
    return results.then((r) => r[index]!)
  })
}

/** The label maps once the forward pass is done, then the box stage. Never rejects. */
async function startImage(
  task: ImageTask,
  prepared: PreparedImage | ErrorData,
  forward: Promise<ForwardResult> | undefined,
  model: LoadedModel,
  options: ProposeOptions,
  stage: BoxStage,
): Promise<ImageResult> {
  if (isFailure(prepared)) return failure(task, prepared)
  let maps: { labels: LabelMap[]; job: BoxJob }
  try {
    maps = labelMaps(task, prepared, await forward!, model, options)
  } catch (err) {
    return failure(task, toErrorData(err), prepared)
  }
  return stage(maps.job).then(
    (proposals) => imageResult(task, prepared, maps.labels, proposals),
    (err: unknown) => failure(task, toErrorData(err), prepared),
  )
}

function failure(task: ImageTask, error: ErrorData, prepared?: PreparedImage): ImageResult {
  return {
    key: task.key,
    path: task.path,
    width: prepared?.width ?? 0,
    height: prepared?.height ?? 0,
    labels: [],
    warnings: prepared?.warnings ?? [],
    error,
  }
}

function imageResult(
  task: ImageTask,
  prepared: PreparedImage,
  labels: LabelMap[],
  proposals: RawProposal[][],
): ImageResult {
  return {
    key: task.key,
    path: task.path,
    width: prepared.width,
    height: prepared.height,
    labels: labels.map((l, i) => ({ ...l, proposals: proposals[i] ?? [] })),
    warnings: prepared.warnings,
  }
}

/** What the stages after the forward pass need of the options. */
type StageOptions = Pick<
  ProposeOptions,
  'proposal' | 'sources' | 'upscale' | 'refine' | 'objectness'
>

/** The whole pipeline after the forward pass for one image, on this thread. */
export function proposeFromForward(
  task: ImageTask,
  prepared: PreparedImage,
  fwd: ForwardResult,
  model: Pick<LoadedModel, 'head'>,
  options: StageOptions,
): ImageResult {
  const { labels, job } = labelMaps(task, prepared, fwd, model, options)
  return imageResult(task, prepared, labels, boxesFor(job))
}

/**
 * Each label's low-resolution map from the forward pass (with a head learned from reviews, the CAM
 * combined with its objectness map), and the box stage's job for them.
 */
export function labelMaps(
  task: ImageTask,
  prepared: PreparedImage,
  fwd: ForwardResult,
  model: Pick<LoadedModel, 'head'>,
  options: StageOptions,
): { labels: LabelMap[]; job: BoxJob } {
  // Learned heads need the pooled features for their confidence; other sources do not.
  const features = needsPooled(task.labels, options.sources)
    ? poolFeatureMaps(fwd.features)
    : undefined
  const head = task.plain ? undefined : options.objectness
  const objectness = head ? objectnessMap(fwd.features, head) : undefined
  const labels: LabelMap[] = []
  for (const label of new Set(task.labels)) {
    const source = options.sources(label)
    const { cam, confidence } = labelCam(source, fwd, model, features)
    // With a head learned from reviews, the combined map is what is stored: recomputing boxes
    // from it later (another threshold) starts from what these boxes came from.
    const normalised = objectness
      ? combineMaps(normaliseByMax(cam), objectness, head!.alpha)
      : normaliseByMax(cam)
    labels.push({ label, source: source.kind, confidence, cam: normalised })
  }
  const job: BoxJob = {
    width: prepared.width,
    height: prepared.height,
    maps: labels.map((l) => ({ cam: l.cam, confidence: l.confidence })),
    proposal: head ? { ...options.proposal, threshold: head.level } : options.proposal,
  }
  if (options.upscale) job.upscale = options.upscale
  if (options.refine) job.refine = options.refine
  if (options.upscale === 'guided') job.guide = guideOf(prepared)
  return { labels, job }
}

/** The box stage: each map upscaled (bilinear or guided) and cut into boxes. Pure. */
export function boxesFor(job: BoxJob): RawProposal[][] {
  return job.maps.map(({ cam, confidence }) => {
    const full =
      job.upscale === 'guided'
        ? guidedMap(cam, guideOf(job), job.proposal, job.refine)
        : upscaleForBoxes(cam, job.width, job.height, job.proposal.workingSize)
    return proposalsFromMap(full, job.proposal, job.width, job.height, confidence)
  })
}

/**
 * The guided (F-CAM-style) full-resolution map of a low-resolution CAM, at the guide's size; the
 * box procedure at `proposal.threshold` then follows the refined edges. Used by the pipeline and by
 * the app's guided view of an image, so both give the same boxes.
 */
export function guidedMap(
  cam: Map2D,
  guide: GuideImage,
  proposal: ProposalOptions,
  refine: Partial<RefineParams> = {},
): Map2D {
  // The refined map puts the object's edge at this fraction of its max.
  return refineCam(cam, guide, { ...refine, threshold: proposal.threshold })
}

/** The guide image; prepareImage makes one when asked for guided upscaling. */
function guideOf(prepared: { guide?: GuideImage | undefined }): GuideImage {
  if (!prepared.guide) {
    throw new CamlabelError(
      'INTERNAL',
      'Guided upscaling needs the guide image; prepare with guideSize',
    )
  }
  return prepared.guide
}

function sumOf(values: Float32Array, indices: readonly number[]): number {
  let sum = 0
  for (const i of indices) sum += values[i] ?? 0
  return sum
}

function needsPooled(labels: string[], sources: (label: string) => LabelSource): boolean {
  return labels.some((l) => sources(l).kind === 'learned')
}

/** A label's raw CAM (not normalised) and the classifier's confidence in it, from its source. */
export function labelCam(
  source: LabelSource,
  fwd: ForwardResult,
  model: Pick<LoadedModel, 'head'>,
  pooled: Float32Array | undefined,
): { cam: Map2D; confidence: number } {
  switch (source.kind) {
    case 'model':
      return {
        cam:
          source.classIndices.length === 1
            ? camForClass(fwd, model.head.classifier, source.classIndices[0]!)
            : weightedCam(fwd, model.head.classifier, source.classIndices),
        confidence: Math.min(1, sumOf(fwd.probabilities, source.classIndices)),
      }
    case 'learned': {
      let logit = source.bias
      for (let k = 0; k < source.weights.length; k++) logit += source.weights[k]! * pooled![k]!
      return {
        cam: camFromFeatures(fwd.features, source.weights),
        confidence: 1 / (1 + Math.exp(-logit)),
      }
    }
    case 'agnostic': {
      const { map, classes } = agnosticCam(fwd, model.head.classifier)
      return { cam: map, confidence: Math.min(1, sumOf(fwd.probabilities, classes)) }
    }
  }
}

// The pipeline's box procedure applied to a stored CAM; part of this module's API since the store
// and services recompute through it.
export { proposalsFromCam } from '../../shared/cam/proposals.ts'
