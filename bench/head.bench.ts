/**
 * Learned-head training time on the 114 coarse-labelled photos of imagenet-val-dev (10 classes,
 * 512 SqueezeNet features), side by side with, in the same run:
 * - one forward pass of the model (what a single image costs anyway), and
 * - a naive full-batch gradient descent on the same objective (primal, 512 dimensions, the step
 *   1/L from the Lipschitz bound), run for 500 iterations: its time and the objective it reaches.
 * Target: training under 1 s. Run: `npx tsx bench/head.bench.ts`.
 */
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { extractFeatures } from '../src/main/engine/features.ts'
import {
  DEFAULT_HEAD_LAMBDA,
  trainHead,
  type HeadSample,
  type LearnedHead,
} from '../src/main/engine/head.ts'
import { prepareImage } from '../src/main/engine/preprocess.ts'
import { openModel } from '../src/main/engine/session.ts'
import { readLabelsCsv } from '../src/main/formats/labelsCsv.ts'
import { median } from './timing.ts'

const root = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../shared/data/imagenet-val-dev',
)

/** Milliseconds of wall time and of this process's CPU time (the machine may be shared). */
function timed<T>(f: () => T): { value: T; wall: number; cpu: number } {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const value = f()
  const wall = performance.now() - t0
  const c = process.cpuUsage(c0)
  return { value, wall, cpu: (c.user + c.system) / 1000 }
}

/** The softmax objective (mean cross-entropy + λ/2‖W_std‖²) of raw weights, in float64. */
function objective(
  samples: HeadSample[],
  classes: string[],
  W: Float64Array[],
  b: number[],
  std: Float64Array,
  lambda: number,
): number {
  let loss = 0
  for (const s of samples) {
    const z = W.map((w, c) => {
      let v = b[c]!
      for (let k = 0; k < w.length; k++) v += w[k]! * s.features[k]!
      return v
    })
    const max = Math.max(...z)
    const lse = max + Math.log(z.reduce((a, v) => a + Math.exp(v - max), 0))
    loss += lse - z[classes.indexOf(s.labels[0]!)]!
  }
  let reg = 0
  for (const w of W) for (let k = 0; k < w.length; k++) reg += (w[k]! * std[k]!) ** 2
  return loss / samples.length + 0.5 * lambda * reg
}

/** Plain gradient descent on standardised features with the step 1/L; returns raw weights. */
function naiveDescent(
  samples: HeadSample[],
  classes: string[],
  lambda: number,
  iterations: number,
): { W: Float64Array[]; b: number[]; std: Float64Array } {
  const n = samples.length
  const D = samples[0]!.features.length
  const C = classes.length
  const mean = new Float64Array(D)
  const std = new Float64Array(D)
  for (const s of samples) for (let k = 0; k < D; k++) mean[k]! += s.features[k]! / n
  for (const s of samples)
    for (let k = 0; k < D; k++) std[k]! += (s.features[k]! - mean[k]!) ** 2 / n
  for (let k = 0; k < D; k++) std[k] = Math.sqrt(std[k]!) || 1
  const X = samples.map((s) => Float64Array.from(s.features, (v, k) => (v - mean[k]!) / std[k]!))
  const y = samples.map((s) => classes.indexOf(s.labels[0]!))
  // Softmax cross-entropy is 1/2·‖x‖²-smooth per sample: L ≤ max‖x‖²/2 + λ.
  const L = Math.max(...X.map((x) => x.reduce((a, v) => a + v * v, 0))) / 2 + lambda
  const W = Array.from({ length: C }, () => new Float64Array(D))
  const b = new Float64Array(C)
  const gW = Array.from({ length: C }, () => new Float64Array(D))
  const gb = new Float64Array(C)
  for (let it = 0; it < iterations; it++) {
    for (const g of gW) g.fill(0)
    gb.fill(0)
    X.forEach((x, i) => {
      const z = W.map((w, c) => {
        let v = b[c]!
        for (let k = 0; k < D; k++) v += w[k]! * x[k]!
        return v
      })
      const max = Math.max(...z)
      const e = z.map((v) => Math.exp(v - max))
      const sum = e.reduce((a, v) => a + v, 0)
      for (let c = 0; c < C; c++) {
        const r = (e[c]! / sum - (c === y[i] ? 1 : 0)) / n
        const g = gW[c]!
        for (let k = 0; k < D; k++) g[k]! += r * x[k]!
        gb[c]! += r
      }
    })
    for (let c = 0; c < C; c++) {
      const w = W[c]!
      const g = gW[c]!
      for (let k = 0; k < D; k++) w[k]! -= (g[k]! + lambda * w[k]!) / L
      b[c]! -= gb[c]! / L
    }
  }
  const raw = W.map((w) => Float64Array.from(w, (v, k) => v / std[k]!))
  const rawB = Array.from(b, (v, c) => v - raw[c]!.reduce((a, w, k) => a + w * mean[k]!, 0))
  return { W: raw, b: rawB, std }
}

export async function run(): Promise<void> {
  const csv = await readLabelsCsv(path.join(root, 'labels-coarse.csv'), root)
  const tasks = csv.rows.map((r) => ({ key: r.file, path: r.path, labels: [r.label] }))
  const model = await openModel('squeezenet1.1-fp16', { providers: 'cpu' })
  const samples: HeadSample[] = []
  for await (const r of extractFeatures(model, tasks)) {
    if (r.features)
      samples.push({ features: r.features, labels: tasks.find((t) => t.key === r.key)!.labels })
  }
  const prepared = await prepareImage(tasks[0]!.path, model.spec.preprocessing)
  const forward: number[] = []
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now()
    await model.forward(prepared.tensor)
    forward.push(performance.now() - t0)
  }
  await model.dispose()

  const cold = timed(() => trainHead(samples, { folds: 0 }))
  const warm = Array.from({ length: 5 }, () => timed(() => trainHead(samples, { folds: 0 })))
  const withCv = Array.from({ length: 3 }, () => timed(() => trainHead(samples)))
  const head: LearnedHead = cold.value
  const classes = head.classes.map((c) => c.name)
  const naive = timed(() => naiveDescent(samples, classes, DEFAULT_HEAD_LAMBDA, 500))
  const std = naive.value.std
  const ours = objective(
    samples,
    classes,
    head.classes.map((c) => Float64Array.from(c.weights)),
    head.classes.map((c) => c.bias),
    std,
    head.lambda,
  )
  const theirs = objective(samples, classes, naive.value.W, naive.value.b, std, head.lambda)

  const ms = (t: { wall: number; cpu: number }): string =>
    `${t.wall.toFixed(0).padStart(6)} ms wall ${t.cpu.toFixed(0).padStart(6)} ms cpu`
  const med = (ts: { wall: number; cpu: number }[]): { wall: number; cpu: number } => ({
    wall: median(ts.map((t) => t.wall)),
    cpu: median(ts.map((t) => t.cpu)),
  })
  console.log(
    `\n## learned head training (${samples.length} images, ${classes.length} classes, ${head.numFeatures} features, λ ${head.lambda}; target < 1 s)`,
  )
  console.log(
    `train, first call (incl. JIT warm-up) ${ms(cold)}   L-BFGS iterations ${head.iterations}, converged ${head.converged}`,
  )
  console.log(`train, median of 5                    ${ms(med(warm))}`)
  console.log(
    `train + 5-fold CV report, median of 3 ${ms(med(withCv))}   CV accuracy ${withCv[0]!.value.quality.cvAccuracy!.toFixed(3)}`,
  )
  console.log(
    `baseline: one SqueezeNet forward pass ${median(forward).toFixed(1).padStart(6)} ms wall (median of 10)`,
  )
  console.log(`baseline: naive gradient descent, 500 iterations ${ms(naive)}`)
  console.log(
    `objective reached: ours ${ours.toFixed(5)}, naive descent ${theirs.toFixed(5)} (lower is better)`,
  )
}

if (import.meta.url === `file://${process.argv[1]}`) await run()
