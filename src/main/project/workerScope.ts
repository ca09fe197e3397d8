/**
 * The inference worker a project job uses: the caller's (the app keeps one for its whole run, with
 * the model loaded), or one started for this job and closed after it (a CLI command, a test).
 */
import { InferenceWorker } from '../jobs/worker.ts'

/** Runs `fn` with `worker`, or with a worker of its own that is closed when `fn` ends. */
export async function withWorker<T>(
  worker: InferenceWorker | undefined,
  fn: (worker: InferenceWorker) => Promise<T>,
): Promise<T> {
  if (worker) return fn(worker)
  const own = new InferenceWorker()
  try {
    return await fn(own)
  } finally {
    await own.close()
  }
}
