/**
 * `propose` throughput on the shared photos, side by side with, in the same run:
 * - the bare onnxruntime forward pass over the same, already-prepared tensors (the ceiling), and
 * - a straightforward serial loop (decode, forward, CAM, boxes one image at a time, no overlap), the
 *   shape of a plain Python script with onnxruntime + OpenCV.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import { readLabelsCsv } from '../src/main/formats/labelsCsv.ts'
import { resolveLabelSources } from '../src/main/engine/labels.ts'
import { defaultModel, modelPath } from '../src/main/engine/manifest.ts'
import { prepareImage } from '../src/main/engine/preprocess.ts'
import { proposeFromForward, type ImageTask } from '../src/main/engine/propose.ts'
import { openModel } from '../src/main/engine/session.ts'
import { DEFAULT_PROPOSAL_OPTIONS } from '../src/main/engine/types.ts'
import { describeModel } from '../src/main/engine/modelInfo.ts'
import { modelIdentity } from '../src/main/engine/modelIdentity.ts'
import { InferenceWorker } from '../src/main/jobs/worker.ts'
import { planLabels } from '../src/main/project/labelPlan.ts'

const ROUNDS = 2
const shared = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../shared/data')

async function tasksOf(dataset: string): Promise<ImageTask[]> {
  const csv = await readLabelsCsv(
    path.join(shared, dataset, 'labels.csv'),
    path.join(shared, dataset, 'images'),
  )
  return csv.rows.map((r) => ({ key: r.file, path: r.path, labels: [r.label] }))
}

/** Steady-state rate, from the model being ready to the last result; start-up is reported apart. */
async function pipeline(
  modelId: string,
  tasks: ImageTask[],
): Promise<{ rate: number; startup: number }> {
  const model = modelIdentity(modelId)
  const info = await describeModel(model)
  const labels = tasks.flatMap((t) => t.labels)
  const { sources } = planLabels(labels, {
    classes: info.classes,
    mode: 'auto',
    mappings: new Map(),
  })
  // A fresh worker, so its start-up (thread, model load) is measured each round.
  const worker = new InferenceWorker()
  const t0 = performance.now()
  let ready = t0
  let n = 0
  const job = worker.propose(tasks, {
    model,
    providers: 'cpu',
    sources,
    onReady: () => (ready = performance.now()),
  })
  for await (const r of job) if (!r.error) n++
  const result = { rate: n / ((performance.now() - ready) / 1000), startup: (ready - t0) / 1000 }
  await worker.close()
  return result
}

async function serial(modelId: string, tasks: ImageTask[]): Promise<number> {
  const model = await openModel(modelId, { providers: 'cpu' })
  const sources = resolveLabelSources(new Set(tasks.flatMap((t) => t.labels)), model.classes)
  const t0 = performance.now()
  for (const task of tasks) {
    const prepared = await prepareImage(task.path, model.spec.preprocessing)
    const fwd = await model.forward(prepared.tensor)
    proposeFromForward(task, prepared, fwd, model, {
      proposal: DEFAULT_PROPOSAL_OPTIONS,
      sources: (l) => sources.get(l)!,
    })
  }
  const rate = tasks.length / ((performance.now() - t0) / 1000)
  await model.dispose()
  return rate
}

async function bareForward(modelId: string, tasks: ImageTask[]): Promise<number> {
  const spec = defaultModel().id === modelId ? defaultModel() : undefined
  const model = await openModel(modelId, { providers: 'cpu' })
  const tensors = await Promise.all(
    tasks.map((t) => prepareImage(t.path, model.spec.preprocessing)),
  )
  const file = spec ? modelPath(spec) : modelId
  const session = await ort.InferenceSession.create(await readFile(file), {
    executionProviders: ['cpu'],
  })
  const input = session.inputNames[0]!
  const type = model.spec.preprocessing.dtype
  await model.dispose()
  const t0 = performance.now()
  for (const p of tensors) {
    await session.run({ [input]: new ort.Tensor(type, p.tensor, p.dims) })
  }
  const rate = tasks.length / ((performance.now() - t0) / 1000)
  await session.release()
  return rate
}

export async function run(): Promise<void> {
  const modelId = defaultModel().id
  console.log(`\n## propose throughput (${modelId}, CPU, images/s; higher is better)`)
  console.log(
    'dataset            pipeline   serial loop   bare forward   pipeline/serial   pipeline/forward   worker start-up',
  )
  for (const dataset of ['imagenet-val-dev', 'raccoon']) {
    const tasks = await tasksOf(dataset)
    // Interleaved rounds, best of each: load from other processes hits all three alike.
    let p = 0
    let startup = Infinity
    let s = 0
    let f = 0
    for (let round = 0; round < ROUNDS; round++) {
      const run = await pipeline(modelId, tasks)
      p = Math.max(p, run.rate)
      startup = Math.min(startup, run.startup)
      s = Math.max(s, await serial(modelId, tasks))
      f = Math.max(f, await bareForward(modelId, tasks))
    }
    console.log(
      `${dataset.padEnd(18)} ${p.toFixed(1).padStart(8)} ${s.toFixed(1).padStart(13)} ${f.toFixed(1).padStart(14)}` +
        ` ${(p / s).toFixed(2).padStart(17)} ${(p / f).toFixed(2).padStart(18)} ${startup.toFixed(1).padStart(15)} s`,
    )
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
