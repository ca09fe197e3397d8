/**
 * The inference worker: onnxruntime's session.run blocks the thread that calls it, so the model lives
 * here, off the main thread. It loads the model, resolves the labels' CAM sources, runs the pipeline
 * and posts one message per image (CAM buffers transferred, not copied).
 */
import { parentPort } from 'node:worker_threads'
import { toErrorData } from '../../shared/errors.ts'
import { resolveLabelSources, summariseSources } from '../engine/labels.ts'
import { proposeImages } from '../engine/propose.ts'
import { openModel } from '../engine/session.ts'
import { isToWorker, PROTOCOL_VERSION, type FromWorker, type StartMessage } from './protocol.ts'

const port = parentPort
if (!port) throw new Error('inferenceWorker must run in a worker thread')
const abort = new AbortController()

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer)
}

async function run(start: StartMessage): Promise<void> {
  const model = await openModel(start.model, { providers: start.providers })
  try {
    const labels = new Set(start.tasks.flatMap((t) => t.labels))
    const sources = resolveLabelSources(
      labels,
      model.classes,
      start.head,
      new Map(Object.entries(start.learned)),
    )
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
    const results = proposeImages(model, start.tasks, {
      proposal: start.proposal,
      sources: (label) => sources.get(label) ?? { kind: 'agnostic' },
      upscale: start.upscale,
      pooledFeatures: start.pooledFeatures,
      signal: abort.signal,
    })
    for await (const result of results) {
      const transfer = result.labels.map((l) => l.cam.data.buffer as ArrayBuffer)
      if (result.features) transfer.push(result.features.buffer as ArrayBuffer)
      post({ v: PROTOCOL_VERSION, type: 'result', result }, transfer)
    }
    post({ v: PROTOCOL_VERSION, type: 'done' })
  } finally {
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
  run(message).catch((err: unknown) =>
    post({ v: PROTOCOL_VERSION, type: 'failed', error: toErrorData(err) }),
  )
})
