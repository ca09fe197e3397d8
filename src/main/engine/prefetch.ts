/**
 * Decoding ahead: images are prepared (sharp, on libuv's thread pool) a few tasks ahead of the one
 * being consumed, so decoding overlaps the forward pass instead of alternating with it.
 */
import { toErrorData, type ErrorData } from '../../shared/errors.ts'
import { prepareImage, type PrepareOptions, type PreparedImage } from './preprocess.ts'
import type { Preprocessing } from './types.ts'

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
  options: PrepareOptions & { depth?: number; signal?: AbortSignal } = {},
): AsyncGenerator<Prefetched<T>> {
  const { depth = 3, signal, ...prepareOptions } = options
  const prepare = (task: T): Promise<PreparedImage | ErrorData> =>
    prepareImage(task.path, pre, prepareOptions).catch((err: unknown) => toErrorData(err))
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
