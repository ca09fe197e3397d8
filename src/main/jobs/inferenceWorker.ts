/**
 * The inference worker thread: onnxruntime's session.run blocks the thread that calls it, and
 * head training and guided refinement are tens to hundreds of milliseconds of arithmetic, so all of
 * it lives here, off the main thread. The loaded model is kept between requests (one app run loads
 * it once); batch requests run one after another, interactive ones (train, refine) are answered
 * between the images of a batch. Batches decode and run their box stage on image threads (see
 * imagePool.ts), so this thread's forward passes do not wait for them.
 */
import { parentPort } from 'node:worker_threads'
import { proposalsFromMap } from '../../shared/cam/boxes.ts'
import { normaliseByMax } from '../../shared/cam/proposals.ts'
import { DEFAULT_PROPOSAL_OPTIONS } from '../../shared/cam/types.ts'
import { toErrorData } from '../../shared/errors.ts'
import { extractFeatures } from '../engine/features.ts'
import { trainHead } from '../engine/head.ts'
import { fitObjectness, type ObjectnessFit } from '../engine/objectness.ts'
import { prepareImage } from '../engine/preprocess.ts'
import { guidedMap, proposeImages } from '../engine/propose.ts'
import type { GuideImage } from '../engine/refine.ts'
import type { LabelSource } from '../engine/labels.ts'
import { openModel, type LoadedModel } from '../engine/session.ts'
import {
  isToWorker,
  PROTOCOL_VERSION,
  type FeaturesRequest,
  type FitRequest,
  type FromWorker,
  type ModelRequest,
  type ProposeRequest,
  type RefineRequest,
  type TrainRequest,
} from './protocol.ts'
import { ImagePool } from './imagePool.ts'
import { coreShare } from './threads.ts'

const port = parentPort
if (!port) throw new Error('inferenceWorker must run in a worker thread')

type Reply = FromWorker extends infer M
  ? M extends FromWorker
    ? Omit<M, 'v' | 'id'>
    : never
  : never

function post(id: number, message: Reply, transfer: ArrayBuffer[] = []): void {
  port!.postMessage({ v: PROTOCOL_VERSION, id, ...message }, transfer)
}

let loaded: { key: string; model: LoadedModel } | undefined
const cores = coreShare()
/** Decoding and the box stage, off this thread (see imagePool.ts); kept, like the model. */
const images = cores.image > 0 ? new ImagePool(cores.image) : undefined
/** How batch requests use the image threads (none: everything on this thread). */
const decoding = images ? { prepare: images.prepare, prefetch: 2 * images.size + 2 } : {}
// Enough images decoding and in the box stage to keep each image thread busy.
const offThread = images ? { ...decoding, boxes: images.boxes, inFlight: 2 * images.size } : {}
let batches: Promise<void> = Promise.resolve()
let guide: { key: string; guide: GuideImage } | undefined
const controllers = new Map<number, AbortController>()

/** The model of a request, loaded once and kept while requests ask for the same one. */
async function modelFor(req: ModelRequest): Promise<{ model: LoadedModel; reused: boolean }> {
  const key = `${req.model.ref}\n${req.model.revision}\n${req.providers}`
  if (loaded?.key === key) return { model: loaded.model, reused: true }
  if (loaded) {
    const old = loaded.model
    loaded = undefined
    await old.dispose()
  }
  const model = await openModel(req.model, { providers: req.providers, threads: cores.inference })
  loaded = { key, model }
  return { model, reused: false }
}

async function ready(id: number, req: ModelRequest): Promise<LoadedModel> {
  const { model, reused } = await modelFor(req)
  const info = { modelId: model.id, provider: model.provider, reused }
  post(id, {
    type: 'ready',
    info: model.providerNote ? { ...info, providerNote: model.providerNote } : info,
  })
  return model
}

/** Each label's resolved CAM source; a label the planner did not resolve gets the agnostic CAM. */
function sourceLookup(sources: Record<string, LabelSource>): (label: string) => LabelSource {
  const byLabel = new Map(Object.entries(sources))
  return (label) => byLabel.get(label) ?? { kind: 'agnostic' }
}

async function propose(req: ProposeRequest, signal: AbortSignal): Promise<void> {
  const model = await ready(req.id, req)
  const results = proposeImages(model, req.tasks, {
    proposal: req.proposal,
    sources: sourceLookup(req.sources),
    upscale: req.upscale,
    ...(req.objectness ? { objectness: req.objectness } : {}),
    ...offThread,
    batch: 4,
    signal,
  })
  for await (const result of results) {
    const transfer = result.labels.map((l) => l.cam.data.buffer as ArrayBuffer)
    post(req.id, { type: 'result', result }, transfer)
  }
}

async function features(req: FeaturesRequest, signal: AbortSignal): Promise<void> {
  const model = await ready(req.id, req)
  const base = { signal, ...decoding }
  const options = req.cells ? { ...base, cells: sourceLookup(req.cells) } : base
  for await (const result of extractFeatures(model, req.tasks, options)) {
    const transfer = [
      result.features,
      result.maps?.data,
      ...(result.cams ?? []).map((c) => c.cam.data),
    ]
      .filter((a) => a !== undefined)
      .map((a) => a.buffer as ArrayBuffer)
    post(req.id, { type: 'features', result }, transfer)
  }
}

function fit(req: FitRequest, signal: AbortSignal): void {
  const fitted: ObjectnessFit | undefined = fitObjectness(req.samples, req.images, req.proposal, {
    ...req.options,
    signal,
  })
  post(req.id, { type: 'fitted', fit: fitted })
}

function train(req: TrainRequest, signal: AbortSignal): void {
  const head = trainHead(req.samples, { ...req.options, signal })
  post(
    req.id,
    { type: 'trained', head },
    head.classes.map((c) => c.weights.buffer as ArrayBuffer),
  )
}

async function refine(req: RefineRequest): Promise<void> {
  let started = performance.now()
  if (guide?.key !== req.cacheKey) {
    const prepared = await prepareImage(req.path, req.preprocessing, { guideSize: req.workingSize })
    guide = { key: req.cacheKey, guide: prepared.guide! }
  }
  const decodeMs = performance.now() - started
  started = performance.now()
  const options = {
    ...DEFAULT_PROPOSAL_OPTIONS,
    threshold: req.threshold,
    workingSize: req.workingSize,
  }
  const maps = req.cams.map((c) => {
    const map = guidedMap(normaliseByMax(c.cam), guide!.guide, options)
    const proposals = proposalsFromMap(map, options, req.width, req.height, c.confidence)
    return { label: c.label, confidence: c.confidence, map, proposals }
  })
  const refineMs = performance.now() - started
  post(
    req.id,
    { type: 'refined', maps, decodeMs, refineMs },
    maps.map((m) => m.map.data.buffer as ArrayBuffer),
  )
}

/** Runs one request, answering `done` (batches) or its own reply, or `failed`. */
async function handle(
  id: number,
  run: (signal: AbortSignal) => Promise<void> | void,
  batch: boolean,
): Promise<void> {
  const controller = controllers.get(id) ?? new AbortController()
  try {
    controller.signal.throwIfAborted()
    await run(controller.signal)
    if (batch) post(id, { type: 'done' })
  } catch (err) {
    post(id, { type: 'failed', error: toErrorData(err) })
  } finally {
    controllers.delete(id)
  }
}

async function close(id: number): Promise<void> {
  for (const c of controllers.values()) c.abort()
  await batches
  // Released before the last message: the main side may end this thread once it has it, and
  // onnxruntime must not be torn down in the middle of a release.
  if (loaded) await loaded.model.dispose().catch(() => undefined)
  loaded = undefined
  await images?.close()
  post(id, { type: 'closed' })
  port!.close()
}

port.on('message', (message: unknown) => {
  if (!isToWorker(message)) {
    const id =
      typeof (message as { id?: unknown })?.id === 'number' ? (message as { id: number }).id : -1
    post(id, {
      type: 'failed',
      error: { code: 'INTERNAL', message: 'Unknown message to the inference worker' },
    })
    return
  }
  if (message.type === 'cancel') return controllers.get(message.id)?.abort()
  if (message.type === 'close') return void close(message.id)
  // Registered now, so a cancel that arrives before a queued batch starts is not lost.
  controllers.set(message.id, new AbortController())
  if (message.type === 'train') return void handle(message.id, (s) => train(message, s), false)
  if (message.type === 'fit') return void handle(message.id, (s) => fit(message, s), false)
  if (message.type === 'refine') return void handle(message.id, () => refine(message), false)
  if (message.type === 'load') {
    // In the batch queue: two loads of one model at once would open it twice.
    const load = async () => {
      images?.start()
      await ready(message.id, message)
    }
    batches = batches.then(() => handle(message.id, load, false))
    return
  }
  const run =
    message.type === 'propose'
      ? (s: AbortSignal) => propose(message, s)
      : (s: AbortSignal) => features(message, s)
  batches = batches.then(() => handle(message.id, run, true))
})
