/**
 * Proposal throughput (issue 15's targets), CPU, on the shared photos, each figure beside a baseline
 * measured in the same run:
 * - steady state: the app's pipeline (the inference worker: decoding and the box stage on image
 *   threads beside the forward pass), bilinear and guided, beside the bare onnxruntime forward pass
 *   over the same, already-prepared tensors on every core (the issue's ceiling), and beside the
 *   ceiling this machine's cores allow: cores ÷ the CPU time one image's decode and one-thread
 *   forward pass take on their own (the work no pipeline can leave out);
 * - whole process, start-up included: `camlabel propose` from the built bundle beside
 *   bench/reference.mjs, the straightforward reference (a plain Python script's loop with
 *   onnxruntime + OpenCV + numpy: decode, resize, forward, CAM, bilinear resize, threshold,
 *   connected components, one image at a time), on the same images and model;
 * - scaling: the pipeline pinned to 1 core, 2 cores, … all cores (Linux, taskset).
 * Run: `npm run bench -- propose`.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import { readLabelsCsv } from '../src/main/formats/labelsCsv.ts'
import { withExtraOutputs } from '../src/main/engine/graph.ts'
import { prepareImage, type PreparedImage } from '../src/main/engine/preprocess.ts'
import type { ImageTask } from '../src/main/engine/propose.ts'
import { openModel } from '../src/main/engine/session.ts'
import { describeModel } from '../src/main/engine/modelInfo.ts'
import { modelIdentity } from '../src/main/engine/modelIdentity.ts'
import type { UpscaleMode } from '../src/shared/cam/types.ts'
import { InferenceWorker } from '../src/main/jobs/worker.ts'
import { planLabels } from '../src/main/project/labelPlan.ts'
import { buildBundle, interleaved, median, repo } from './timing.ts'

const ROUNDS = 2
const here = path.dirname(fileURLToPath(import.meta.url))
const shared = path.resolve(repo, '../shared')
const MODELS = ['squeezenet1.1-fp16', 'mobilenetv2-12-int8']
const DATASETS = ['imagenet-val-dev', 'raccoon']

async function tasksOf(dataset: string): Promise<ImageTask[]> {
  const csv = await readLabelsCsv(
    path.join(shared, 'data', dataset, 'labels.csv'),
    path.join(shared, 'data', dataset, 'images'),
  )
  return csv.rows.map((r) => ({ key: r.file, path: r.path, labels: [r.label] }))
}

function cpuMs(): number {
  const c = process.cpuUsage()
  return (c.user + c.system) / 1000
}

/** The app's pipeline: images/s of a warm worker, from the model being ready to the last result. */
async function pipeline(
  modelId: string,
  tasks: ImageTask[],
  upscale: UpscaleMode,
): Promise<number> {
  const model = modelIdentity(modelId)
  const info = await describeModel(model)
  const { sources } = planLabels(
    tasks.flatMap((t) => t.labels),
    { classes: info.classes, mode: 'auto', mappings: new Map() },
  )
  const worker = new InferenceWorker()
  // Steady state: the model, the image threads and their code are warm before the clock starts.
  const warm = worker.propose(tasks.slice(0, 8), { model, providers: 'cpu', sources, upscale })
  for await (const _ of warm) void _
  let ready = performance.now()
  let n = 0
  const job = worker.propose(tasks, {
    model,
    providers: 'cpu',
    sources,
    upscale,
    onReady: () => (ready = performance.now()),
  })
  for await (const r of job) if (!r.error) n++
  const rate = n / ((performance.now() - ready) / 1000)
  await worker.close()
  return rate
}

/** Forward passes per second over prepared tensors, with `threads` intra-op threads (0: every core). */
async function bareForward(
  file: string,
  prepared: PreparedImage[],
  type: 'float16' | 'float32',
  threads: number,
): Promise<{ rate: number; cpuPerImage: number }> {
  const session = await ort.InferenceSession.create(readFileSync(file), {
    executionProviders: ['cpu'],
    ...(threads ? { intraOpNumThreads: threads } : {}),
  })
  const input = session.inputNames[0]!
  const run = (p: PreparedImage) => session.run({ [input]: new ort.Tensor(type, p.tensor, p.dims) })
  for (const p of prepared.slice(0, 10)) await run(p)
  const t0 = performance.now()
  const c0 = cpuMs()
  for (const p of prepared) await run(p)
  const result = {
    rate: prepared.length / ((performance.now() - t0) / 1000),
    cpuPerImage: (cpuMs() - c0) / prepared.length,
  }
  await session.release()
  return result
}

/** CPU ms one decode takes on its own (one image at a time, so nothing else is counted). */
async function decodeCpu(tasks: ImageTask[], pre: Parameters<typeof prepareImage>[1]) {
  const prepared: PreparedImage[] = []
  const c0 = cpuMs()
  for (const t of tasks) prepared.push(await prepareImage(t.path, pre))
  return { prepared, cpuPerImage: (cpuMs() - c0) / tasks.length }
}

interface Row {
  bilinear: number
  guided: number
  forward: number
  ceiling: number
}

async function measure(modelId: string, dataset: string): Promise<Row> {
  const tasks = await tasksOf(dataset)
  const model = await openModel(modelId, { providers: 'cpu' })
  const { file, preprocessing } = model.spec
  await model.dispose()
  const row: Row = { bilinear: 0, guided: 0, forward: 0, ceiling: 0 }
  // Interleaved rounds, best of each: load from other processes hits all of them alike.
  for (let round = 0; round < ROUNDS; round++) {
    row.bilinear = Math.max(row.bilinear, await pipeline(modelId, tasks, 'bilinear'))
    row.guided = Math.max(row.guided, await pipeline(modelId, tasks, 'guided'))
    const decode = await decodeCpu(tasks, preprocessing)
    row.forward = Math.max(
      row.forward,
      (await bareForward(file, decode.prepared, preprocessing.dtype, 0)).rate,
    )
    const one = await bareForward(file, decode.prepared, preprocessing.dtype, 1)
    const ceiling = (availableParallelism() * 1000) / (decode.cpuPerImage + one.cpuPerImage)
    row.ceiling = Math.max(row.ceiling, ceiling)
  }
  return row
}

function compareWithReference(): void {
  buildBundle()
  const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-propose-bench-'))
  try {
    const data = path.join(shared, 'data/imagenet-val-dev')
    const models = path.join(shared, 'models')
    // The reference's model: the class-map tensor made an output once, as a Python user would.
    const refModel = path.join(tmp, 'squeezenet-cam.onnx')
    writeFileSync(
      refModel,
      withExtraOutputs(readFileSync(path.join(models, 'squeezenet1.1-fp16.onnx')), ['conv10_2']),
    )
    const labels = path.join(data, 'labels.csv')
    const node = process.execPath
    const [camlabel, reference] = interleaved(
      [
        [
          node,
          path.join(repo, 'out/main/cli.js'),
          'propose',
          '--images',
          path.join(data, 'images'),
          '--labels',
          labels,
          '--out',
          path.join(tmp, 'camlabel.json'),
          '--overwrite',
          '--provider',
          'cpu',
        ],
        [
          node,
          path.join(here, 'reference.mjs'),
          refModel,
          path.join(models, 'imagenet-synsets.txt'),
          labels,
          path.join(tmp, 'reference.json'),
        ],
      ],
      3,
    ).map((times) => median(times) / 1000)
    console.log(
      '\npropose, whole process with start-up (imagenet-val-dev, 300 photos, SqueezeNet, CPU), median of 3',
    )
    console.log(`  reference loop (bench/reference.mjs) ${reference!.toFixed(2).padStart(6)} s`)
    console.log(
      `  camlabel propose                     ${camlabel!.toFixed(2).padStart(6)} s   reference/camlabel ${(reference! / camlabel!).toFixed(2)} (target ≥ 1.5)`,
    )
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
}

/** The pipeline's bilinear rate pinned to `cpus` cores, in a child process of its own. */
function pinned(cpus: number, modelId: string, dataset: string): number {
  const list = Array.from({ length: cpus }, (_, i) => i).join(',')
  const out = spawnSync(
    'taskset',
    ['-c', list, process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), '--child'],
    { cwd: repo, encoding: 'utf8', env: { ...process.env, BENCH_CHILD: `${modelId},${dataset}` } },
  )
  if (out.status !== 0) throw new Error(`the pinned pipeline failed: ${out.stderr}`)
  return Number(out.stdout.trim().split('\n').at(-1))
}

function scaling(): void {
  const cores = availableParallelism()
  if (process.platform !== 'linux' || spawnSync('taskset', ['-V']).status !== 0) {
    console.log('\nscaling: needs Linux and taskset; not measured here')
    return
  }
  const counts = [...new Set([1, 2, 4, 8, cores].filter((c) => c <= cores))]
  console.log('\npropose scaling: the bilinear pipeline pinned to k cores (images/s, best of 2)')
  for (const modelId of MODELS) {
    const rates = counts.map((k) =>
      Math.max(pinned(k, modelId, 'imagenet-val-dev'), pinned(k, modelId, 'imagenet-val-dev')),
    )
    const cells = counts.map((k, i) => `${k} core${k > 1 ? 's' : ''} ${rates[i]!.toFixed(1)}`)
    console.log(
      `  ${modelId.padEnd(20)} ${cells.join('   ')}   all/1 ${(rates.at(-1)! / rates[0]!).toFixed(2)}`,
    )
  }
}

export async function run(): Promise<void> {
  console.log(
    `\npropose, steady state, CPU, images/s (higher is better); this machine: ${availableParallelism()} cores`,
  )
  console.log(
    '  model                dataset            bilinear   guided   bare forward   ceiling   bilinear/forward   guided/bilinear   bilinear/ceiling',
  )
  console.log(
    '                                                                (all cores)   (cores)   (target ≥ 0.90)    (target ≥ 0.50)',
  )
  for (const modelId of MODELS) {
    for (const dataset of DATASETS) {
      const r = await measure(modelId, dataset)
      console.log(
        `  ${modelId.padEnd(20)} ${dataset.padEnd(18)} ${r.bilinear.toFixed(1).padStart(8)} ${r.guided.toFixed(1).padStart(8)}` +
          ` ${r.forward.toFixed(1).padStart(14)} ${r.ceiling.toFixed(1).padStart(9)}` +
          ` ${(r.bilinear / r.forward).toFixed(2).padStart(18)} ${(r.guided / r.bilinear).toFixed(2).padStart(17)}` +
          ` ${(r.bilinear / r.ceiling).toFixed(2).padStart(18)}`,
      )
    }
  }
  compareWithReference()
  scaling()
}

if (process.argv.includes('--child')) {
  const [modelId, dataset] = process.env.BENCH_CHILD!.split(',') as [string, string]
  console.log(await pipeline(modelId, await tasksOf(dataset), 'bilinear'))
} else if (import.meta.url === `file://${process.argv[1]}`) await run()
