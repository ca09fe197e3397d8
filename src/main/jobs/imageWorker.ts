/**
 * An image thread (see imagePool.ts): decodes images into network inputs and runs the box stage of
 * the proposal pipeline. Pure JavaScript and sharp, no onnxruntime, so the pool may end it at any
 * moment.
 */
import { parentPort } from 'node:worker_threads'
import { toErrorData } from '../../shared/errors.ts'
import { prepareImage } from '../engine/preprocess.ts'
import { boxesFor } from '../engine/propose.ts'
import type { ImageJob } from './imagePool.ts'

const port = parentPort
if (!port) throw new Error('imageWorker must run in a worker thread')

async function answer(message: ImageJob & { id: number }): Promise<void> {
  const { id } = message
  try {
    if (message.type === 'boxes') {
      port!.postMessage({ id, proposals: boxesFor(message.job) })
      return
    }
    const prepared = await prepareImage(message.path, message.pre, message.options)
    // Fresh buffers, so they can be transferred (sharp's output buffers cannot be detached).
    if (prepared.guide) prepared.guide = { ...prepared.guide, data: prepared.guide.data.slice() }
    const transfer = [prepared.tensor.buffer, prepared.guide?.data.buffer]
    port!.postMessage({ id, prepared }, transfer.filter((b) => b !== undefined) as ArrayBuffer[])
  } catch (err) {
    port!.postMessage({ id, error: toErrorData(err) })
  }
}

port.on('message', (message: ImageJob & { id: number }) => void answer(message))
