/**
 * The message protocol between the main side and the inference worker. Versioned, plain data only
 * (structured-clone safe); the type guards reject anything else so a stale worker bundle fails loudly.
 */
import type { ErrorData } from '../../shared/errors.ts'
import type { FeatureResult } from '../engine/features.ts'
import type { HeadMode, MappingChoice, LearnedWeights } from '../engine/labels.ts'
import type { ImageResult, ImageTask, UpscaleMode } from '../engine/propose.ts'
import type { ProviderChoice } from '../engine/session.ts'
import type { ProposalOptions } from '../engine/types.ts'

export const PROTOCOL_VERSION = 3

/**
 * Starts a job. `propose`: boxes for every task's labels. `features`: the pooled features of every
 * image (for learning a head); label sources are still resolved so the caller learns which labels
 * the model knows.
 */
export interface StartMessage {
  v: typeof PROTOCOL_VERSION
  type: 'start'
  mode: 'propose' | 'features'
  model: string
  providers: ProviderChoice
  tasks: ImageTask[]
  proposal: ProposalOptions
  upscale: UpscaleMode
  head: HeadMode
  learned: Record<string, LearnedWeights>
  mappings: Record<string, MappingChoice>
}

export interface CancelMessage {
  v: typeof PROTOCOL_VERSION
  type: 'cancel'
}

export type ToWorker = StartMessage | CancelMessage

/** What the worker says once the model is loaded. */
export interface ReadyInfo {
  modelId: string
  provider: string
  /** Labels by the kind of CAM source they use. */
  sources: Record<'model' | 'learned' | 'agnostic', string[]>
  /** Why a GPU provider was not used, when one was asked for or available. */
  providerNote?: string
}

export type FromWorker =
  | { v: typeof PROTOCOL_VERSION; type: 'ready'; info: ReadyInfo }
  | { v: typeof PROTOCOL_VERSION; type: 'result'; result: ImageResult }
  | { v: typeof PROTOCOL_VERSION; type: 'features'; result: FeatureResult }
  | { v: typeof PROTOCOL_VERSION; type: 'done' }
  | { v: typeof PROTOCOL_VERSION; type: 'failed'; error: ErrorData }

function isVersioned(m: unknown): m is { v: number; type: string } {
  return typeof m === 'object' && m !== null && (m as { v?: unknown }).v === PROTOCOL_VERSION
}

export function isToWorker(m: unknown): m is ToWorker {
  return isVersioned(m) && (m.type === 'start' || m.type === 'cancel')
}

export function isFromWorker(m: unknown): m is FromWorker {
  return isVersioned(m) && ['ready', 'result', 'features', 'done', 'failed'].includes(m.type)
}
