/**
 * The proposal pipeline: decode → tensor → forward → CAM per label → upscale → boxes. Decoding runs on
 * sharp's thread pool a few images ahead of the forward pass, so the two overlap; the CAM and box work
 * is pure and runs between forward passes.
 */
import { CamlabelError, toErrorData, type ErrorData } from '../../shared/errors.ts'
import { agnosticCam, camForClass, camFromFeatures, weightedCam } from './cam.ts'
import { proposalsFromMap } from '../../shared/cam/boxes.ts'
import { normaliseByMax, upscaleForBoxes } from '../../shared/cam/proposals.ts'
import type { LabelSource } from './labels.ts'
import { poolFeatureMaps } from './features.ts'
import { combineMaps, objectnessMap, type ObjectnessHead } from './objectness.ts'
import { isFailure, prefetchImages } from './prefetch.ts'
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

export interface LabelProposals {
  label: string
  source: LabelSource['kind']
  /** How sure the classifier is that the label is present (0..1). */
  confidence: number
  /** The low-resolution CAM, divided by its max (so the max is 1), kept to recompute boxes later. */
  cam: Map2D
  proposals: RawProposal[]
}

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
  signal?: AbortSignal
  onProgress?: (progress: { done: number; total: number; failed: number }) => void
}

/** Runs the pipeline over `tasks` in order, yielding one result per task. */
export async function* proposeImages(
  model: LoadedModel,
  tasks: readonly ImageTask[],
  options: ProposeOptions,
): AsyncGenerator<ImageResult> {
  const guideSize = options.upscale === 'guided' ? options.proposal.workingSize : undefined
  let failed = 0
  const images = prefetchImages(tasks, model.spec.preprocessing, {
    depth: options.prefetch ?? 3,
    ...(guideSize ? { guideSize } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  })
  for await (const { task, index, prepared } of images) {
    let result: ImageResult
    if (isFailure(prepared)) {
      result = failure(task, prepared)
    } else {
      try {
        const fwd = await model.forward(prepared.tensor)
        result = proposeFromForward(task, prepared, fwd, model, options)
      } catch (err) {
        result = failure(task, toErrorData(err), prepared)
      }
    }
    if (result.error) failed++
    options.onProgress?.({ done: index + 1, total: tasks.length, failed })
    yield result
  }
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

/** The CAM and box stage for one image, given its forward pass. Pure apart from `refineCam`'s cost. */
export function proposeFromForward(
  task: ImageTask,
  prepared: PreparedImage,
  fwd: ForwardResult,
  model: Pick<LoadedModel, 'head'>,
  options: Pick<ProposeOptions, 'proposal' | 'sources' | 'upscale' | 'refine' | 'objectness'>,
): ImageResult {
  // Learned heads need the pooled features for their confidence; other sources do not.
  const features = needsPooled(task.labels, options.sources)
    ? poolFeatureMaps(fwd.features)
    : undefined
  const head = task.plain ? undefined : options.objectness
  const objectness = head ? objectnessMap(fwd.features, head) : undefined
  const proposal = head ? { ...options.proposal, threshold: head.level } : options.proposal
  const labels: LabelProposals[] = []
  for (const label of new Set(task.labels)) {
    const source = options.sources(label)
    const { cam, confidence } = labelCam(source, fwd, model, features)
    // With a head learned from reviews, the combined map is what is stored: recomputing boxes
    // from it later (another threshold) starts from what these boxes came from.
    const normalised = objectness
      ? combineMaps(normaliseByMax(cam), objectness, head!.alpha)
      : normaliseByMax(cam)
    const full =
      options.upscale === 'guided'
        ? guidedMap(normalised, guideOf(prepared), proposal, options.refine)
        : upscaleForBoxes(normalised, prepared.width, prepared.height, proposal.workingSize)
    labels.push({
      label,
      source: source.kind,
      confidence,
      cam: normalised,
      proposals: proposalsFromMap(full, proposal, prepared.width, prepared.height, confidence),
    })
  }
  return {
    key: task.key,
    path: task.path,
    width: prepared.width,
    height: prepared.height,
    labels,
    warnings: prepared.warnings,
  }
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
function guideOf(prepared: PreparedImage): GuideImage {
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
