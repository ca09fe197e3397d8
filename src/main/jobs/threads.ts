/**
 * Starting camlabel's worker threads. From the sources (CLI, tests), an entry `NAME.ts` beside this
 * module runs through workerBootstrap.mjs and tsx, since worker threads do not inherit the parent's
 * loader hooks; in the bundle, `out/main/NAME.js` (each entry is its own bundle input), which is
 * beside this code or one folder up when this module lies in a shared chunk (out/main/chunks/).
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'

/** The worker entries (electron.vite.config.ts builds each as its own file). */
export type WorkerName = 'inferenceWorker' | 'imageWorker'

/** Where entry `name` is, seen from module `here`. Exported for the packaging test. */
export function workerEntry(
  name: WorkerName,
  here: string = import.meta.url,
): { file: URL; viaTsx: boolean } {
  if (here.endsWith('.ts')) return { file: new URL(`./${name}.ts`, here), viaTsx: true }
  const beside = new URL(`./${name}.js`, here)
  const up = new URL(`../${name}.js`, here)
  return { file: existsSync(fileURLToPath(beside)) ? beside : up, viaTsx: false }
}

/** Starts a thread running entry `name`. */
export function startWorker(name: WorkerName): Worker {
  const { file, viaTsx } = workerEntry(name)
  if (viaTsx) {
    return new Worker(new URL('./workerBootstrap.mjs', import.meta.url), {
      workerData: { entry: file.href },
    })
  }
  return new Worker(file)
}
