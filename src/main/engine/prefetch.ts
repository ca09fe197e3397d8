/**
 * Decoding ahead: images are prepared a few tasks ahead of the one being consumed, so decoding
 * overlaps the forward pass instead of alternating with it. sharp decodes on libuv's thread pool,
 * but each step between its calls runs on the calling thread, which a forward pass blocks: the
 * inference worker passes `prepare`, which decodes on other threads (jobs/imagePool.ts).
 */
import { toErrorData, type ErrorData } from '../../shared/errors.ts'
import { prepareImage, type PrepareOptions, type PreparedImage } from './preprocess.ts'
import type { Preprocessing } from './types.ts'

/** prepareImage, or a stand-in that runs it elsewhere. */
export type Prepare = (
  path: string,
  pre: Preprocessing,
  options: PrepareOptions,
) => Promise<PreparedImage>

export interface Prefetched<T> {
  task: T
  index: number
  /** The prepared image, or why it could not be prepared (the batch goes on). */
  prepared: PreparedImage | ErrorData
}

/** True when preparation failed. */
export function isFailure(prepared: PreparedImage | ErrorData): prepared is ErrorData {
  return 'code' in prepared
}

/**
 * Yields every task, in order, with its prepared image; at most `depth` are in preparation at once.
 * `signal` stops it between tasks (throws AbortError).
 */
export async function* prefetchImages<T extends { path: string }>(
  tasks: readonly T[],
  pre: Preprocessing,
  options: PrepareOptions & { depth?: number; signal?: AbortSignal; prepare?: Prepare } = {},
): AsyncGenerator<Prefetched<T>> {
  const { depth = 3, signal, prepare: run = prepareImage, ...prepareOptions } = options
  const prepare = (task: T): Promise<PreparedImage | ErrorData> =>
    run(task.path, pre, prepareOptions).catch((err: unknown) => toErrorData(err))
  const pending: Promise<PreparedImage | ErrorData>[] = []
  let next = 0
  for (let index = 0; index < tasks.length; index++) {
    signal?.throwIfAborted()
    while (pending.length < Math.max(1, depth) && next < tasks.length) {
      pending.push(prepare(tasks[next++]!))
    }
    yield { task: tasks[index]!, index, prepared: await pending.shift()! }
  }
}
