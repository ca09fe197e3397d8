/**
 * Runs inference jobs in the worker and yields their results on this thread, which stays free for
 * the UI's IPC or the CLI's progress. Cancelling (the AbortSignal) stops the worker after the image
 * in flight; results already yielded stay valid.
 */
import { Worker } from 'node:worker_threads'
import { CamlabelError } from '../../shared/errors.ts'
import type { FeatureResult } from '../engine/features.ts'
import type { HeadMode, MappingChoice, LearnedWeights } from '../engine/labels.ts'
import type { ImageResult, ImageTask, UpscaleMode } from '../engine/propose.ts'
import type { ProviderChoice } from '../engine/session.ts'
import { DEFAULT_PROPOSAL_OPTIONS, type ProposalOptions } from '../engine/types.ts'
import {
  isFromWorker,
  PROTOCOL_VERSION,
  type FromWorker,
  type ReadyInfo,
  type StartMessage,
} from './protocol.ts'

export interface JobOptions {
  /** A manifest id or a path to an .onnx file. */
  model: string
  providers?: ProviderChoice
  head?: HeadMode
  learned?: ReadonlyMap<string, LearnedWeights>
  /** The user's per-label choices (model classes, learn, agnostic), overriding `head`. */
  mappings?: ReadonlyMap<string, MappingChoice>
  signal?: AbortSignal
  /** Called once the model is loaded: the provider in use and each label's CAM source. */
  onReady?: (info: ReadyInfo) => void
}

export interface ProposalJobOptions extends JobOptions {
  proposal?: Partial<ProposalOptions>
  upscale?: UpscaleMode
}

/** How long a stopping worker may take to finish its image and release the model. */
const WORKER_EXIT_TIMEOUT_MS = 30_000

/** Starts the worker: the bundled .js in the built app, the .ts through tsx when run from sources. */
export function startInferenceWorker(): Worker {
  const here = import.meta.url
  if (here.endsWith('.ts')) {
    return new Worker(new URL('./workerBootstrap.mjs', here), {
      workerData: { entry: new URL('./inferenceWorker.ts', here).href },
    })
  }
  return new Worker(new URL('./inferenceWorker.js', here))
}

/** Yields one ImageResult per task, in order, computed in a worker thread. */
export function runProposalJob(
  tasks: readonly ImageTask[],
  options: ProposalJobOptions,
): AsyncGenerator<ImageResult> {
  return runInWorker<ImageResult>('propose', tasks, options, (m) =>
    m.type === 'result' ? m.result : undefined,
  )
}

/** Yields the pooled features of every task's image, in order, computed in a worker thread. */
export function runFeatureJob(
  tasks: readonly ImageTask[],
  options: JobOptions,
): AsyncGenerator<FeatureResult> {
  return runInWorker<FeatureResult>('features', tasks, options, (m) =>
    m.type === 'features' ? m.result : undefined,
  )
}

async function* runInWorker<T>(
  mode: StartMessage['mode'],
  tasks: readonly ImageTask[],
  options: ProposalJobOptions,
  resultOf: (message: FromWorker) => T | undefined,
): AsyncGenerator<T> {
  options.signal?.throwIfAborted()
  const worker = startInferenceWorker()
  const inbox: FromWorker[] = []
  let wake: (() => void) | undefined
  let crashed: Error | undefined
  const notify = (): void => {
    wake?.()
    wake = undefined
  }
  worker.on('message', (m: unknown) => {
    if (isFromWorker(m)) inbox.push(m)
    else crashed = new Error('The inference worker sent a message this version does not understand')
    notify()
  })
  worker.on('error', (err) => {
    crashed = err
    notify()
  })
  let finished = false
  const exited = new Promise<void>((resolve) =>
    worker.once('exit', (code) => {
      if (!finished && !crashed) {
        crashed = new Error(`The inference worker stopped before finishing (exit code ${code})`)
      }
      notify()
      resolve()
    }),
  )
  const onAbort = (): void => worker.postMessage({ v: PROTOCOL_VERSION, type: 'cancel' })
  options.signal?.addEventListener('abort', onAbort, { once: true })

  const start: StartMessage = {
    v: PROTOCOL_VERSION,
    type: 'start',
    mode,
    model: options.model,
    providers: options.providers ?? 'auto',
    tasks: [...tasks],
    proposal: { ...DEFAULT_PROPOSAL_OPTIONS, ...options.proposal },
    upscale: options.upscale ?? 'bilinear',
    head: options.head ?? 'auto',
    learned: Object.fromEntries(options.learned ?? []),
    mappings: Object.fromEntries(options.mappings ?? []),
  }
  worker.postMessage(start)
  try {
    for (;;) {
      const message = inbox.shift()
      if (!message) {
        if (crashed) throw crashed
        await new Promise<void>((resolve) => (wake = resolve))
        continue
      }
      if (message.type === 'ready') options.onReady?.(message.info)
      else if (message.type === 'done') {
        finished = true
        return
      } else if (message.type === 'failed') {
        finished = true
        if (message.error.code === 'CANCELLED' || options.signal?.aborted) {
          options.signal?.throwIfAborted()
        }
        throw new CamlabelError(message.error.code, message.error.message, message.error.hint)
      } else {
        const result = resultOf(message)
        if (result !== undefined) yield result
      }
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort)
    // Never kill the thread inside onnxruntime (that aborts the whole process): ask it to stop
    // after the image in flight and let it end by itself; terminate only if it does not.
    if (!finished) worker.postMessage({ v: PROTOCOL_VERSION, type: 'cancel' })
    const timer = setTimeout(() => void worker.terminate(), WORKER_EXIT_TIMEOUT_MS)
    await exited
    clearTimeout(timer)
  }
}
