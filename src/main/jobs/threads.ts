/**
 * Starting camlabel's worker threads. From the sources (CLI, tests), an entry `NAME.ts` beside this
 * module runs through workerBootstrap.mjs and tsx, since worker threads do not inherit the parent's
 * loader hooks; in the bundle, `out/main/NAME.js` (each entry is its own bundle input), which is
 * beside this code or one folder up when this module lies in a shared chunk (out/main/chunks/).
 */
import { existsSync } from 'node:fs'
import { availableParallelism } from 'node:os'
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

/**
 * How the inference worker shares the machine's cores: `inference`, the threads of one CPU forward
 * pass (0: onnxruntime's own choice), and `image`, the image threads that decode and run the box
 * stage (imagePool.ts) meanwhile. A forward pass on its own is fastest on every core, but beside
 * the image threads the cores are taken anyway: on 2 cores one forward thread gave 5% (SqueezeNet)
 * to 20% (MobileNetV2) more images/s than onnxruntime's choice of two, and two image threads 13%
 * (imagenet) to 29% (raccoon) more than one with guided upscaling (bench/propose.bench.ts). On one
 * core there is nothing to overlap and threads only cost: no image threads (0, the worker does
 * everything), and onnxruntime's choice, which pinned to one core ran 114–118 images/s where one
 * thread asked for ran 88–91.
 */
export function coreShare(cores: number = availableParallelism()): {
  inference: number
  image: number
} {
  if (cores <= 1) return { inference: 0, image: 0 }
  const inference = Math.max(1, Math.round(cores / 4))
  return { inference, image: Math.max(2, cores - inference) }
}
