/**
 * The main side of the inference worker: one thread, started on first use and kept for the
 * process's life (the app's jobs reuse its loaded model), that this side talks to by request id.
 * Batch requests (propose, features) are async generators of results in task order; interactive
 * ones (train, refine) are promises. Cancelling (an AbortSignal) stops a batch after the image in
 * flight; results already yielded stay valid. The thread is never killed inside onnxruntime (that
 * aborts the whole process): `close` asks it to release the model and end, and only a thread that
 * does not end in time is terminated. A thread that dies fails its open requests; the next request
 * starts a new one.
 */
import type { Worker } from 'node:worker_threads'
import type { UpscaleMode } from '../../shared/cam/types.ts'
import { DEFAULT_PROPOSAL_OPTIONS, type ProposalOptions } from '../../shared/cam/types.ts'
import { CamlabelError, fromErrorData, type ErrorData } from '../../shared/errors.ts'
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
import {
  isFromWorker,
  PROTOCOL_VERSION,
  type FromWorker,
  type ReadyInfo,
  type RefinedMap,
  type RefineRequest,
  type ToWorker,
} from './protocol.ts'
import { startWorker } from './threads.ts'

/** How long a stopping thread may take to finish its image and release the model. */
const EXIT_TIMEOUT_MS = 30_000

/** What every batch request needs. */
export interface BatchOptions {
  model: ModelIdentity
  providers?: ProviderChoice
  signal?: AbortSignal
  /** Called once the model is loaded: the provider in use. */
  onReady?: (info: ReadyInfo) => void
}

export interface ProposeOptions extends BatchOptions {
  proposal?: Partial<ProposalOptions>
  upscale?: UpscaleMode
  /** Each label's CAM source, resolved by the label planner. */
  sources: ReadonlyMap<string, LabelSource>
  /** The head learned from reviewed boxes (see engine/propose.ts). */
  objectness?: ObjectnessHead
}

export interface FeaturesOptions extends BatchOptions {
  /** Also the feature cells and each task label's CAM, from these sources. */
  cells?: ReadonlyMap<string, LabelSource>
}

/** A refine request without its protocol fields. */
export type RefineInput = Omit<RefineRequest, 'v' | 'id' | 'type'>

type Message = FromWorker
type Request = ToWorker extends infer M ? (M extends ToWorker ? Omit<M, 'v' | 'id'> : never) : never

export class InferenceWorker {
  private thread: Worker | undefined
  private nextId = 1
  private readonly listeners = new Map<number, (m: Message | Error) => void>()

  /** True while a thread is running (for tests and the app's shutdown). */
  get started(): boolean {
    return this.thread !== undefined
  }

  /** Yields one ImageResult per task, in order. */
  propose(tasks: readonly ImageTask[], options: ProposeOptions): AsyncGenerator<ImageResult> {
    return this.batch<ImageResult>(
      {
        type: 'propose',
        model: options.model,
        providers: options.providers ?? 'auto',
        tasks: [...tasks],
        proposal: { ...DEFAULT_PROPOSAL_OPTIONS, ...options.proposal },
        upscale: options.upscale ?? 'bilinear',
        sources: Object.fromEntries(options.sources),
        ...(options.objectness ? { objectness: options.objectness } : {}),
      },
      options,
      (m) => (m.type === 'result' ? m.result : undefined),
    )
  }

  /** Yields the pooled features of every task's image, in order. */
  features(tasks: readonly ImageTask[], options: FeaturesOptions): AsyncGenerator<FeatureResult> {
    return this.batch<FeatureResult>(
      {
        type: 'features',
        model: options.model,
        providers: options.providers ?? 'auto',
        tasks: [...tasks],
        ...(options.cells ? { cells: Object.fromEntries(options.cells) } : {}),
      },
      options,
      (m) => (m.type === 'features' ? m.result : undefined),
    )
  }

  /**
   * Loads the model now, so that its load overlaps what the caller does before its first batch;
   * resolves with what the batch's onReady would say.
   */
  async load(
    model: ModelIdentity,
    providers: ProviderChoice = 'auto',
    signal?: AbortSignal,
  ): Promise<ReadyInfo> {
    const m = await this.once({ type: 'load', model, providers }, signal)
    if (m.type !== 'ready') throw unexpected(m)
    return m.info
  }

  /** Trains a learned head in the worker (see trainHead). */
  async train(
    samples: HeadSample[],
    options: Omit<TrainHeadOptions, 'signal'> = {},
    signal?: AbortSignal,
  ): Promise<LearnedHead> {
    const m = await this.once({ type: 'train', samples, options }, signal)
    if (m.type !== 'trained') throw unexpected(m)
    return m.head
  }

  /** Fits the head learned from reviewed boxes in the worker (see fitObjectness). */
  async fit(
    samples: CellSamples,
    images: ReviewedImage[],
    proposal: ProposalOptions,
    options: Omit<FitOptions, 'signal'> = {},
    signal?: AbortSignal,
  ): Promise<ObjectnessFit | undefined> {
    const m = await this.once({ type: 'fit', samples, images, proposal, options }, signal)
    if (m.type !== 'fitted') throw unexpected(m)
    return m.fit
  }

  /** The guided maps and boxes of one image's CAMs (the review screen's guided view). */
  async refine(
    input: RefineInput,
  ): Promise<{ maps: RefinedMap[]; decodeMs: number; refineMs: number }> {
    const m = await this.once({ type: 'refine', ...input })
    if (m.type !== 'refined') throw unexpected(m)
    return { maps: m.maps, decodeMs: m.decodeMs, refineMs: m.refineMs }
  }

  /** Releases the model and ends the thread (a later request starts a new one). */
  async close(): Promise<void> {
    const thread = this.thread
    if (!thread) return
    const exited = new Promise<void>((resolve) => thread.once('exit', () => resolve()))
    thread.ref()
    this.send({ type: 'close' }, this.nextId++)
    const timer = setTimeout(() => void thread.terminate(), EXIT_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  }

  private ensureThread(): Worker {
    if (this.thread) return this.thread
    const thread = startWorker('inferenceWorker')
    const failAll = (err: Error) => {
      if (this.thread === thread) this.thread = undefined
      for (const listener of [...this.listeners.values()]) listener(err)
    }
    thread.on('message', (m: unknown) => {
      if (!isFromWorker(m)) {
        failAll(new Error('The inference worker sent a message this version does not understand'))
        return
      }
      this.listeners.get(m.id)?.(m)
    })
    thread.on('error', failAll)
    thread.once('exit', (code) => {
      failAll(new Error(`The inference worker stopped before finishing (exit code ${code})`))
    })
    thread.unref()
    this.thread = thread
    return thread
  }

  private send(request: Request, id: number): void {
    this.ensureThread().postMessage({ v: PROTOCOL_VERSION, id, ...request })
  }

  /** Keeps the process alive while requests are open, not while the thread idles. */
  private listen(id: number, listener: (m: Message | Error) => void): () => void {
    this.listeners.set(id, listener)
    this.ensureThread().ref()
    return () => {
      this.listeners.delete(id)
      if (this.listeners.size === 0) this.thread?.unref()
    }
  }

  private once(request: Request, signal?: AbortSignal): Promise<Message> {
    signal?.throwIfAborted()
    const id = this.nextId++
    return new Promise<Message>((resolve, reject) => {
      const onAbort = () => this.thread?.postMessage({ v: PROTOCOL_VERSION, id, type: 'cancel' })
      const stop = this.listen(id, (m) => {
        stop()
        signal?.removeEventListener('abort', onAbort)
        if (m instanceof Error) reject(m)
        else if (m.type === 'failed') reject(failure(m.error, signal))
        else resolve(m)
      })
      signal?.addEventListener('abort', onAbort, { once: true })
      this.send(request, id)
    })
  }

  private async *batch<T>(
    request: Request,
    options: BatchOptions,
    resultOf: (m: Message) => T | undefined,
  ): AsyncGenerator<T> {
    const { signal } = options
    signal?.throwIfAborted()
    const id = this.nextId++
    const inbox: (Message | Error)[] = []
    let wake: (() => void) | undefined
    let finished = false
    let ended: (() => void) | undefined
    const end = new Promise<void>((resolve) => (ended = resolve))
    const stop = this.listen(id, (m) => {
      inbox.push(m)
      if (m instanceof Error || m.type === 'done' || m.type === 'failed') ended?.()
      wake?.()
      wake = undefined
    })
    const cancel = () => this.thread?.postMessage({ v: PROTOCOL_VERSION, id, type: 'cancel' })
    signal?.addEventListener('abort', cancel, { once: true })
    this.send(request, id)
    try {
      for (;;) {
        const m = inbox.shift()
        if (!m) {
          await new Promise<void>((resolve) => (wake = resolve))
          continue
        }
        if (m instanceof Error) throw m
        if (m.type === 'ready') options.onReady?.(m.info)
        else if (m.type === 'done') {
          finished = true
          return
        } else if (m.type === 'failed') {
          finished = true
          throw failure(m.error, signal)
        } else {
          const result = resultOf(m)
          if (result !== undefined) yield result
        }
      }
    } finally {
      signal?.removeEventListener('abort', cancel)
      if (!finished) {
        // Left early (break, cancel, an error in the consumer): stop after the image in flight and
        // wait for the worker to say so, so the next request starts on a quiet thread.
        cancel()
        const timer = setTimeout(() => void this.thread?.terminate(), EXIT_TIMEOUT_MS)
        await end
        clearTimeout(timer)
      }
      stop()
    }
  }
}

function failure(error: ErrorData, signal?: AbortSignal): Error {
  if (error.code === 'CANCELLED' && signal?.aborted) {
    // The caller's own cancel: the AbortError its signal carries.
    try {
      signal.throwIfAborted()
    } catch (err) {
      return err as Error
    }
  }
  return fromErrorData(error)
}

function unexpected(m: Message): Error {
  return new CamlabelError('INTERNAL', `The inference worker answered '${m.type}' unexpectedly`)
}
