import { describe, expect, it } from 'vitest'
import { CamlabelError } from '../../src/shared/errors.ts'
import {
  assignFolds,
  formatHeadQuality,
  headSources,
  predictHead,
  trainHead,
  type HeadSample,
} from '../../src/main/engine/head.ts'
import { minimizeLbfgs } from '../../src/main/engine/lbfgs.ts'

/** Seeded PRNG (mulberry32) with Box–Muller normals: synthetic data, the same every run. */
function rng(seed: number): { uniform: () => number; normal: () => number } {
  let a = seed >>> 0
  const uniform = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const normal = (): number => {
    const u = Math.max(uniform(), 1e-12)
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * uniform())
  }
  return { uniform, normal }
}

/** Gaussian clusters in `dim` dimensions, one centre per class, unit noise; ReLU-like offset. */
function clusters(
  classes: string[],
  perClass: number,
  dim: number,
  seed: number,
  separation = 3,
): { samples: HeadSample[]; centres: Float32Array[]; draw: (c: number) => Float32Array } {
  const r = rng(seed)
  const centres = classes.map(() => {
    const c = new Float32Array(dim)
    for (let k = 0; k < dim; k++) c[k] = 5 + separation * r.normal()
    return c
  })
  const draw = (c: number): Float32Array => {
    const f = new Float32Array(dim)
    for (let k = 0; k < dim; k++) f[k] = centres[c]![k]! + r.normal()
    return f
  }
  const samples: HeadSample[] = []
  for (let i = 0; i < perClass; i++) {
    classes.forEach((name, c) => samples.push({ features: draw(c), labels: [name] }))
  }
  return { samples, centres, draw }
}

function argmax(a: Float32Array): number {
  let best = 0
  for (let i = 1; i < a.length; i++) if (a[i]! > a[best]!) best = i
  return best
}

describe('minimizeLbfgs', () => {
  it('finds the minimum of the Rosenbrock function', () => {
    const r = minimizeLbfgs(
      (x, g) => {
        const a = 1 - x[0]!
        const b = x[1]! - x[0]! * x[0]!
        g[0] = -2 * a - 400 * x[0]! * b
        g[1] = 200 * b
        return a * a + 100 * b * b
      },
      Float64Array.from([-1.2, 1]),
      { gradientTolerance: 1e-10, maxIterations: 1000 },
    )
    expect(r.converged).toBe(true)
    expect(r.x[0]).toBeCloseTo(1, 5)
    expect(r.x[1]).toBeCloseTo(1, 5)
  })
})

describe('trainHead: one label per image (softmax)', () => {
  const names = ['cat', 'dog', 'fish']
  const data = clusters(names, 20, 16, 1)

  it('separates Gaussian clusters, classifies new draws and reports high CV accuracy', () => {
    const head = trainHead(data.samples)
    expect(head.mode).toBe('softmax')
    expect(head.converged).toBe(true)
    expect(head.quality.usable).toBe(true)
    expect(head.quality.warnings).toEqual([])
    expect(head.quality.folds).toBe(5)
    expect(head.quality.cvAccuracy).toBeGreaterThan(0.9)
    expect(head.classes.map((c) => c.name)).toEqual(names)
    for (const q of head.quality.classes) {
      expect(q.images).toBe(20)
      expect(q.cvAccuracy).toBeGreaterThan(0.85)
      expect(q.cvFalsePositiveRate).toBeLessThan(0.1)
    }
    let right = 0
    for (let t = 0; t < 30; t++) {
      const c = t % 3
      if (argmax(predictHead(head, data.draw(c))) === c) right++
    }
    expect(right).toBeGreaterThanOrEqual(28)
  })

  it('gives bit-identical weights on two runs', () => {
    const a = trainHead(data.samples)
    const b = trainHead(data.samples)
    for (let c = 0; c < a.classes.length; c++) {
      expect(Buffer.from(a.classes[c]!.weights.buffer)).toEqual(
        Buffer.from(b.classes[c]!.weights.buffer),
      )
      expect(a.classes[c]!.bias).toBe(b.classes[c]!.bias)
    }
    expect(a.quality).toEqual(b.quality)
  })

  it('folds the standardisation into raw weights: rescaling a feature changes nothing else', () => {
    const scaled = data.samples.map((s) => {
      const f = Float32Array.from(s.features)
      f[3] = f[3]! * 1000 + 50
      return { features: f, labels: s.labels }
    })
    const a = trainHead(data.samples, { folds: 0 })
    const b = trainHead(scaled, { folds: 0 })
    for (let c = 0; c < 3; c++) {
      expect(b.classes[c]!.weights[3]! * 1000).toBeCloseTo(a.classes[c]!.weights[3]!, 4)
      expect(b.classes[c]!.weights[0]).toBeCloseTo(a.classes[c]!.weights[0]!, 4)
    }
    for (let i = 0; i < 6; i++) {
      const pa = predictHead(a, data.samples[i]!.features)
      const pb = predictHead(b, scaled[i]!.features)
      for (let c = 0; c < 3; c++) expect(pb[c]).toBeCloseTo(pa[c]!, 4)
    }
  })

  it('with more features than images, reaches the optimum of the full problem (gradient ≈ 0)', () => {
    const wide = clusters(['a', 'b', 'c', 'd'], 6, 80, 7, 0.5)
    const lambda = 0.05
    const head = trainHead(wide.samples, { lambda, folds: 0, gradientTolerance: 1e-10 })
    // Recompute the standardisation here and check λ·w_std = −(1/n) Σ (p − y) z over all 80 features.
    const n = wide.samples.length
    const D = 80
    const mean = new Float64Array(D)
    const std = new Float64Array(D)
    for (const s of wide.samples) for (let k = 0; k < D; k++) mean[k]! += s.features[k]! / n
    for (const s of wide.samples)
      for (let k = 0; k < D; k++) std[k]! += (s.features[k]! - mean[k]!) ** 2 / n
    for (let k = 0; k < D; k++) std[k] = Math.sqrt(std[k]!)
    let worst = 0
    head.classes.forEach((cls, c) => {
      const g = new Float64Array(D)
      for (const s of wide.samples) {
        const r = predictHead(head, s.features)[c]! - (s.labels[0] === cls.name ? 1 : 0)
        for (let k = 0; k < D; k++) g[k]! += (r * (s.features[k]! - mean[k]!)) / std[k]! / n
      }
      for (let k = 0; k < D; k++) {
        const residual = g[k]! + lambda * cls.weights[k]! * std[k]!
        worst = Math.max(worst, Math.abs(residual))
      }
    })
    expect(worst).toBeLessThan(1e-4)
  })

  it('gives a constant feature zero weight instead of NaN', () => {
    const constant = data.samples.map((s) => {
      const f = Float32Array.from(s.features)
      f[0] = 2.5
      return { features: f, labels: s.labels }
    })
    const head = trainHead(constant, { folds: 0 })
    for (const c of head.classes) {
      expect(c.weights[0]).toBe(0)
      expect(Number.isFinite(c.bias)).toBe(true)
    }
  })

  it('warns about a class with too few images, and still learns it', () => {
    const few = [
      ...data.samples,
      ...[0, 1, 2].map(() => ({ features: data.draw(2), labels: ['eel'] })),
    ]
    const head = trainHead(few)
    expect(head.quality.warnings).toHaveLength(1)
    expect(head.quality.warnings[0]).toMatch(/'eel' has 3 images: too few images to learn/)
    const eel = head.quality.classes.find((c) => c.name === 'eel')!
    expect(eel.warning).toMatch(/too few images/)
    expect(headSources(head).has('eel')).toBe(true)
  })
})

describe('trainHead: several labels per image (one-vs-rest)', () => {
  // Each label adds its own direction; an image with both labels has both.
  const dim = 24
  const r = rng(3)
  const dirs = [0, 1, 2].map(() => Float32Array.from({ length: dim }, () => 3 * r.normal()))
  const names = ['person', 'bicycle', 'dog']
  const make = (present: number[]): HeadSample => {
    const f = new Float32Array(dim)
    for (let k = 0; k < dim; k++) {
      f[k] = 2 + r.normal()
      for (const c of present) f[k]! += dirs[c]![k]!
    }
    return { features: f, labels: present.map((c) => names[c]!) }
  }
  const combos = [[0], [1], [2], [0, 1], [0, 2], [1, 2], []]
  const samples = Array.from({ length: 70 }, (_, i) => make(combos[i % combos.length]!))

  it('trains one-vs-rest, finds both labels on an image that has both', () => {
    const head = trainHead(samples)
    expect(head.mode).toBe('ovr')
    expect(head.quality.usable).toBe(true)
    expect(head.quality.cvAccuracy).toBeGreaterThan(0.8)
    for (const q of head.quality.classes) expect(q.images).toBe(30)
    let right = 0
    for (let t = 0; t < 20; t++) {
      const p = predictHead(head, make([0, 2]).features)
      if (p[0]! > 0.5 && p[2]! > 0.5 && p[1]! < 0.5) right++
    }
    expect(right).toBeGreaterThanOrEqual(18)
    // Independent probabilities: an image with two labels gets a high score for each.
    expect(headSources(head).size).toBe(3)
  })

  it('refuses a softmax head for multi-label images with a clear message', () => {
    expect(() => trainHead(samples, { mode: 'softmax' })).toThrow(/exactly one label per image/)
  })
})

describe('trainHead: one class', () => {
  const data = clusters(['raccoon'], 12, 10, 5)

  it('warns that there is nothing to discriminate against and leaves the agnostic CAM in use', () => {
    const head = trainHead(data.samples)
    expect(head.quality.usable).toBe(false)
    expect(head.quality.cvAccuracy).toBeNull()
    expect(head.quality.warnings.join(' ')).toMatch(/nothing to discriminate against/)
    expect(head.quality.warnings.join(' ')).toMatch(/background/)
    expect(headSources(head).size).toBe(0)
  })

  it("learns with a 'background' class as negatives, which is never proposed", () => {
    const bg = clusters(['Background'], 12, 10, 6)
    const head = trainHead([...data.samples, ...bg.samples])
    expect(head.quality.usable).toBe(true)
    expect(head.quality.warnings).toEqual([])
    expect(head.classes.find((c) => c.name === 'Background')!.background).toBe(true)
    expect([...headSources(head).keys()]).toEqual(['raccoon'])
    const s = headSources(head).get('raccoon')!
    expect(s.kind).toBe('learned')
    expect(s.weights).toHaveLength(10)
  })

  it('learns with unlabelled images as negatives (one-vs-rest)', () => {
    const bg = clusters(['x'], 12, 10, 6).samples.map((s) => ({ features: s.features, labels: [] }))
    const head = trainHead([...data.samples, ...bg])
    expect(head.mode).toBe('ovr')
    expect(head.quality.usable).toBe(true)
    expect(head.quality.classes[0]!.cvAccuracy).toBeGreaterThan(0.8)
    expect(headSources(head).has('raccoon')).toBe(true)
  })
})

describe('formatHeadQuality', () => {
  it('prints one line per class with images, CV accuracy and false positives, then the warnings', () => {
    const data = clusters(['cat', 'dog'], 10, 8, 11)
    const few = [...data.samples, { features: data.draw(0), labels: ['background'] }]
    const lines = formatHeadQuality(trainHead(few))
    expect(lines[0]).toMatch(
      /^learned head: softmax regression, λ 0\.01, 21 images, 5-fold CV accuracy \d+\.\d%$/,
    )
    expect(lines[1]).toMatch(/class\s+images\s+CV acc\s+false pos/)
    expect(lines[2]).toMatch(/^ {2}cat\s+10\s+\d+\.\d%\s+\d+\.\d%$/)
    expect(lines[4]).toMatch(/^ {2}background \(negatives\)\s+1 /)
    expect(lines[5]).toBe(
      "warning: 'background' has 1 image: too few images to learn (5 or more recommended)",
    )
    const alone = formatHeadQuality(trainHead(clusters(['cat'], 6, 8, 12).samples))
    expect(alone).toHaveLength(2)
    expect(alone[0]).toMatch(/no cross-validation/)
    expect(alone[1]).toMatch(/^warning: Only one class \('cat'\): nothing to discriminate against/)
  })
})

describe('trainHead: bad input', () => {
  it('refuses no samples, ragged features and NaN with INVALID_ARGUMENT', () => {
    const f = new Float32Array(4)
    expect(() => trainHead([])).toThrow(CamlabelError)
    expect(() =>
      trainHead([
        { features: f, labels: ['a'] },
        { features: new Float32Array(3), labels: ['b'] },
      ]),
    ).toThrow(/samples\[1\]\.features/)
    expect(() =>
      trainHead([{ features: Float32Array.from([1, NaN, 0, 0]), labels: ['a'] }]),
    ).toThrow(/finite/)
    expect(() => trainHead([{ features: f, labels: ['a'] }], { lambda: 0 })).toThrow(/lambda/)
  })
})

describe('assignFolds', () => {
  it('spreads every class over the folds, deterministically', () => {
    const sets = [[0], [0], [0], [1], [1], [0], [1], [2], []]
    const folds = assignFolds(sets, 3)
    expect([...folds]).toEqual([0, 1, 2, 1, 2, 0, 0, 1, 2])
  })
})
