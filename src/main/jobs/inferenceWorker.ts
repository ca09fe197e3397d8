/**
 * The inference worker: onnxruntime's session.run blocks the thread that calls it, so the model lives
 * here, off the main thread. It loads the model, resolves the labels' CAM sources, runs the job and
 * posts one message per image (buffers transferred, not copied).
 */
import { parentPort } from 'node:worker_threads'
import { toErrorData } from '../../shared/errors.ts'
import { extractFeatures } from '../engine/features.ts'
import { resolveLabelSources, summariseSources } from '../engine/labels.ts'
import { proposeImages } from '../engine/propose.ts'
import { openModel, type LoadedModel } from '../engine/session.ts'
import { isToWorker, PROTOCOL_VERSION, type FromWorker, type StartMessage } from './protocol.ts'

const port = parentPort
if (!port) throw new Error('inferenceWorker must run in a worker thread')
const abort = new AbortController()

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer)
}

async function proposeAll(
  model: LoadedModel,
  start: StartMessage,
  sources: ReturnType<typeof resolveLabelSources>,
) {
  const results = proposeImages(model, start.tasks, {
    proposal: start.proposal,
    sources: (label) => sources.get(label) ?? { kind: 'agnostic' },
    upscale: start.upscale,
    signal: abort.signal,
  })
  for await (const result of results) {
    const transfer = result.labels.map((l) => l.cam.data.buffer as ArrayBuffer)
    post({ v: PROTOCOL_VERSION, type: 'result', result }, transfer)
  }
}

async function featuresAll(model: LoadedModel, start: StartMessage) {
  for await (const result of extractFeatures(model, start.tasks, { signal: abort.signal })) {
    const transfer = result.features ? [result.features.buffer as ArrayBuffer] : []
    post({ v: PROTOCOL_VERSION, type: 'features', result }, transfer)
  }
}

async function run(start: StartMessage): Promise<void> {
  const model = await openModel(start.model, { providers: start.providers })
  try {
    const labels = new Set(start.tasks.flatMap((t) => t.labels))
    const learned = new Map(Object.entries(start.learned))
    const mappings = new Map(Object.entries(start.mappings))
    const sources = resolveLabelSources(labels, model.classes, start.head, learned, mappings)
    const ready = {
      modelId: model.id,
      provider: model.provider,
      sources: summariseSources(sources),
    }
    post({
      v: PROTOCOL_VERSION,
      type: 'ready',
      info: model.providerNote ? { ...ready, providerNote: model.providerNote } : ready,
    })
    if (start.mode === 'features') await featuresAll(model, start)
    else await proposeAll(model, start, sources)
  } finally {
    // Released before the last message: the main side may end this thread once it has it, and
    // onnxruntime must not be torn down in the middle of a release.
    await model.dispose()
  }
}

port.on('message', (message: unknown) => {
  if (!isToWorker(message)) {
    post({
      v: PROTOCOL_VERSION,
      type: 'failed',
      error: { code: 'INTERNAL', message: 'Unknown message to the inference worker' },
    })
    return
  }
  if (message.type === 'cancel') {
    abort.abort()
    return
  }
  run(message)
    .then(() => post({ v: PROTOCOL_VERSION, type: 'done' }))
    .catch((err: unknown) => post({ v: PROTOCOL_VERSION, type: 'failed', error: toErrorData(err) }))
    // Nothing more to do: closing the port lets the thread end by itself.
    .finally(() => port.close())
})
