/**
 * The image work around the forward pass, on threads of its own: decoding (prepareImage) and the
 * proposal pipeline's box stage (upscaling and boxes: propose.ts's `boxesFor`). onnxruntime's
 * `session.run` blocks the thread that calls it, so on the inference thread neither could overlap a
 * forward pass: each step of a decode between sharp's calls waited for the running forward, and
 * the box stage (with guided upscaling, longer than the forward) ran between them. A job goes to
 * the thread with the fewest open jobs; a thread that dies fails its open jobs (those images fail,
 * the batch goes on) and is replaced at the next job.
 */
import type { Worker } from 'node:worker_threads'
import { CamlabelError, fromErrorData, type ErrorData } from '../../shared/errors.ts'
import type { Prepare } from '../engine/prefetch.ts'
import type { PrepareOptions, PreparedImage } from '../engine/preprocess.ts'
import type { BoxJob, BoxStage } from '../engine/propose.ts'
import type { Preprocessing, RawProposal } from '../engine/types.ts'
import { coreShare, startWorker } from './threads.ts'

/** A job for an image thread; posted with the id its reply answers to. */
export type ImageJob =
  | { type: 'prepare'; path: string; pre: Preprocessing; options: PrepareOptions }
  | { type: 'boxes'; job: BoxJob }

type Reply =
  | { id: number; prepared: PreparedImage }
  | { id: number; proposals: RawProposal[][] }
  | { id: number; error: ErrorData }

interface Slot {
  thread: Worker | undefined
  open: Map<number, { resolve: (reply: Reply) => void; reject: (err: Error) => void }>
}

export class ImagePool {
  private readonly slots: Slot[]
  private nextId = 1

  constructor(size: number = coreShare().image) {
    this.slots = Array.from({ length: Math.max(1, size) }, () => ({
      thread: undefined,
      open: new Map(),
    }))
  }

  /** How many threads the pool runs. */
  get size(): number {
    return this.slots.length
  }

  /** prepareImage on an image thread; the tensor and guide come back transferred. */
  readonly prepare: Prepare = async (path, pre, options) => {
    const reply = await this.send({ type: 'prepare', path, pre, options })
    return (reply as { prepared: PreparedImage }).prepared
  }

  /** The box stage of one image on an image thread; its guide is transferred there. */
  readonly boxes: BoxStage = async (job) => {
    const transfer = job.guide ? [job.guide.data.buffer as ArrayBuffer] : []
    const reply = await this.send({ type: 'boxes', job }, transfer)
    return (reply as { proposals: RawProposal[][] }).proposals
  }

  /** Starts every thread now rather than at its first job (their start-up overlaps other work). */
  start(): void {
    for (const slot of this.slots) this.threadOf(slot)
  }

  /** Ends every thread; open jobs fail. */
  async close(): Promise<void> {
    await Promise.all(
      this.slots.map(async (slot) => {
        const thread = slot.thread
        slot.thread = undefined
        fail(slot, new CamlabelError('CANCELLED', 'The image threads were closed'))
        await thread?.terminate()
      }),
    )
  }

  private send(job: ImageJob, transfer: ArrayBuffer[] = []): Promise<Reply> {
    const slot = this.slots.reduce((a, b) => (b.open.size < a.open.size ? b : a))
    const id = this.nextId++
    const thread = this.threadOf(slot)
    return new Promise<Reply>((resolve, reject) => {
      slot.open.set(id, {
        resolve: (reply) =>
          'error' in reply ? reject(fromErrorData(reply.error)) : resolve(reply),
        reject,
      })
      // A thread with open jobs keeps the process alive; an idle one does not.
      thread.ref()
      thread.postMessage({ id, ...job }, transfer)
    })
  }

  private threadOf(slot: Slot): Worker {
    if (slot.thread) return slot.thread
    const thread = startWorker('imageWorker')
    thread.on('message', (reply: Reply) => {
      const open = slot.open.get(reply.id)
      slot.open.delete(reply.id)
      if (slot.open.size === 0) thread.unref()
      open?.resolve(reply)
    })
    const died = (err: Error): void => {
      if (slot.thread !== thread) return
      slot.thread = undefined
      fail(slot, err)
    }
    thread.on('error', died)
    thread.once('exit', (code) => died(new Error(`An image thread stopped (exit code ${code})`)))
    slot.thread = thread
    return thread
  }
}

function fail(slot: Slot, err: Error): void {
  const open = [...slot.open.values()]
  slot.open.clear()
  for (const o of open) o.reject(err)
}
