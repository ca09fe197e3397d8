/**
 * The message protocol between the main side (worker.ts) and the inference worker thread
 * (inferenceWorker.ts). Versioned, plain data only (structured-clone safe; buffers transferred);
 * the type guards reject anything else so a stale worker bundle fails loudly. Every request has an
 * id; a batch request (propose, features) streams results and ends with `done` or `failed`, an
 * interactive one (train, refine) answers once. Label sources arrive resolved (labelPlan.ts): the
 * worker never decides where a CAM comes from.
 */
import type { Map2D, ProposalOptions, RawProposal, UpscaleMode } from '../../shared/cam/types.ts'
import type { ErrorData } from '../../shared/errors.ts'
import type { FeatureResult } from '../engine/features.ts'
import type { HeadSample, LearnedHead, TrainHeadOptions } from '../engine/head.ts'
import type { LabelSource } from '../engine/labels.ts'
import type {
  CellSamples,
  FitOptions,
  ObjectnessFit,
  ObjectnessHead,
  ReviewedImage,
} from '../engine/objectness.ts'
import type { ModelIdentity } from '../engine/modelIdentity.ts'
import type { ImageResult, ImageTask } from '../engine/propose.ts'
import type { ProviderChoice } from '../engine/session.ts'
import type { Preprocessing } from '../engine/types.ts'

export const PROTOCOL_VERSION = 6

interface Versioned {
  v: typeof PROTOCOL_VERSION
  id: number
}

/** The model a batch request runs on; the worker keeps it loaded for the next request. */
export interface ModelRequest {
  model: ModelIdentity
  providers: ProviderChoice
}

/** Proposals for every task's labels, each label's CAM from `sources`. */
export interface ProposeRequest extends Versioned, ModelRequest {
  type: 'propose'
  tasks: ImageTask[]
  proposal: ProposalOptions
  upscale: UpscaleMode
  sources: Record<string, LabelSource>
  /** The head learned from reviewed boxes, when the project has one (objectness.ts). */
  objectness?: ObjectnessHead
}

/**
 * The pooled features of every task's image (for learning a head); with `cells`, the feature cells
 * and each task label's CAM from these sources too (for learning from reviewed boxes).
 */
export interface FeaturesRequest extends Versioned, ModelRequest {
  type: 'features'
  tasks: ImageTask[]
  cells?: Record<string, LabelSource>
}

/**
 * Loads a model ahead of the batch requests that will use it (and starts the image threads), so
 * the load overlaps the caller's own preparation; answered with `ready`.
 */
export interface LoadRequest extends Versioned, ModelRequest {
  type: 'load'
}

/** Fits the head learned from reviewed boxes (fitObjectness) off the main thread. */
export interface FitRequest extends Versioned {
  type: 'fit'
  samples: CellSamples
  images: ReviewedImage[]
  proposal: ProposalOptions
  options: Omit<FitOptions, 'signal'>
}

/** Trains a learned head (trainHead) off the main thread. */
export interface TrainRequest extends Versioned {
  type: 'train'
  samples: HeadSample[]
  options: Omit<TrainHeadOptions, 'signal'>
}

/** The guided maps of one image's stored CAMs, for the review screen's guided view. */
export interface RefineRequest extends Versioned {
  type: 'refine'
  path: string
  /** Identifies the image file's version: the decoded guide of the last key is kept. */
  cacheKey: string
  /** Decoding settings (only the guide is used). */
  preprocessing: Preprocessing
  width: number
  height: number
  workingSize: number
  threshold: number
  cams: { label: string; cam: Map2D; confidence: number }[]
}

export interface CancelMessage extends Versioned {
  type: 'cancel'
}

/** Releases the model and ends the thread. */
export interface CloseMessage extends Versioned {
  type: 'close'
}

export type ToWorker =
  | LoadRequest
  | ProposeRequest
  | FeaturesRequest
  | TrainRequest
  | FitRequest
  | RefineRequest
  | CancelMessage
  | CloseMessage

/** What the worker says once the model of a batch request is loaded. */
export interface ReadyInfo {
  modelId: string
  provider: string
  /** True when the model was already loaded by an earlier request (no load for this one). */
  reused: boolean
  /** Why a GPU provider was not used, when one was asked for or available. */
  providerNote?: string
}

/** One label's guided map of a refine request. */
export interface RefinedMap {
  label: string
  confidence: number
  map: Map2D
  proposals: RawProposal[]
}

export type FromWorker = Versioned &
  (
    | { type: 'ready'; info: ReadyInfo }
    | { type: 'result'; result: ImageResult }
    | { type: 'features'; result: FeatureResult }
    | { type: 'trained'; head: LearnedHead }
    | { type: 'fitted'; fit: ObjectnessFit | undefined }
    | { type: 'refined'; maps: RefinedMap[]; decodeMs: number; refineMs: number }
    | { type: 'done' }
    | { type: 'failed'; error: ErrorData }
    | { type: 'closed' }
  )

const TO_WORKER = new Set([
  'load',
  'propose',
  'features',
  'train',
  'fit',
  'refine',
  'cancel',
  'close',
])
const FROM_WORKER = new Set([
  'ready',
  'result',
  'features',
  'trained',
  'fitted',
  'refined',
  'done',
  'failed',
  'closed',
])

function isVersioned(m: unknown): m is { v: number; id: number; type: string } {
  return (
    typeof m === 'object' &&
    m !== null &&
    (m as { v?: unknown }).v === PROTOCOL_VERSION &&
    typeof (m as { id?: unknown }).id === 'number'
  )
}

export function isToWorker(m: unknown): m is ToWorker {
  return isVersioned(m) && TO_WORKER.has(m.type)
}

export function isFromWorker(m: unknown): m is FromWorker {
  return isVersioned(m) && FROM_WORKER.has(m.type)
}
