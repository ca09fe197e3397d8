/**
 * A small, deterministic L-BFGS minimiser (Nocedal & Wright, algorithm 7.4 with a backtracking
 * Armijo line search) for the smooth convex objectives of the learned heads. No randomness: the
 * same objective and start give bit-identical results.
 */

/** Writes the gradient at `x` into `grad` and returns the objective's value. */
export type Objective = (x: Float64Array, grad: Float64Array) => number

export interface LbfgsOptions {
  /** Stop when ‖grad‖∞ ≤ gradientTolerance · max(1, |f|). */
  gradientTolerance?: number
  maxIterations?: number
  /** Number of correction pairs kept. */
  memory?: number
  /** Checked once per iteration. */
  signal?: AbortSignal
}

export interface LbfgsResult {
  x: Float64Array
  value: number
  iterations: number
  evaluations: number
  converged: boolean
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!
  return s
}

function maxAbs(a: Float64Array): number {
  let m = 0
  for (let i = 0; i < a.length; i++) {
    const v = Math.abs(a[i]!)
    if (v > m) m = v
  }
  return m
}

/** Minimises `f` from `x0` (not modified). */
export function minimizeLbfgs(
  f: Objective,
  x0: Float64Array,
  options: LbfgsOptions = {},
): LbfgsResult {
  const tol = options.gradientTolerance ?? 1e-6
  const maxIter = options.maxIterations ?? 500
  const m = options.memory ?? 20
  const n = x0.length
  const x = Float64Array.from(x0)
  const g = new Float64Array(n)
  let value = f(x, g)
  let evaluations = 1
  const s: Float64Array[] = []
  const y: Float64Array[] = []
  const rho: number[] = []
  const alpha = new Float64Array(m)
  const d = new Float64Array(n)
  const xNew = new Float64Array(n)
  const gNew = new Float64Array(n)
  let iterations = 0
  let converged = maxAbs(g) <= tol * Math.max(1, Math.abs(value))

  while (!converged && iterations < maxIter) {
    options.signal?.throwIfAborted()
    // Two-loop recursion: d = −H·g.
    for (let i = 0; i < n; i++) d[i] = -g[i]!
    for (let j = s.length - 1; j >= 0; j--) {
      const a = rho[j]! * dot(s[j]!, d)
      alpha[j] = a
      const yj = y[j]!
      for (let i = 0; i < n; i++) d[i]! -= a * yj[i]!
    }
    if (s.length > 0) {
      const last = s.length - 1
      const gamma = dot(s[last]!, y[last]!) / dot(y[last]!, y[last]!)
      for (let i = 0; i < n; i++) d[i]! *= gamma
    }
    for (let j = 0; j < s.length; j++) {
      const b = rho[j]! * dot(y[j]!, d)
      const sj = s[j]!
      const a = alpha[j]!
      for (let i = 0; i < n; i++) d[i]! += (a - b) * sj[i]!
    }
    let slope = dot(g, d)
    if (!(slope < 0)) {
      // Not a descent direction (numerical trouble): restart from steepest descent.
      s.length = 0
      y.length = 0
      rho.length = 0
      for (let i = 0; i < n; i++) d[i] = -g[i]!
      slope = dot(g, d)
    }
    // The first step is scaled so it moves by about 1 in the largest coordinate.
    let step = s.length === 0 ? Math.min(1, 1 / Math.max(maxAbs(d), 1e-12)) : 1
    let newValue = Infinity
    let accepted = false
    for (let tries = 0; tries < 40; tries++) {
      for (let i = 0; i < n; i++) xNew[i] = x[i]! + step * d[i]!
      newValue = f(xNew, gNew)
      evaluations++
      if (newValue <= value + 1e-4 * step * slope) {
        accepted = true
        break
      }
      step *= 0.5
    }
    iterations++
    if (!accepted) break
    const sk = new Float64Array(n)
    const yk = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      sk[i] = xNew[i]! - x[i]!
      yk[i] = gNew[i]! - g[i]!
    }
    const sy = dot(sk, yk)
    // Keep the pair only when curvature is positive, so H stays positive definite.
    if (sy > 1e-12 * dot(yk, yk)) {
      if (s.length === m) {
        s.shift()
        y.shift()
        rho.shift()
      }
      s.push(sk)
      y.push(yk)
      rho.push(1 / sy)
    }
    const decrease = value - newValue
    x.set(xNew)
    g.set(gNew)
    value = newValue
    converged =
      maxAbs(g) <= tol * Math.max(1, Math.abs(value)) ||
      decrease <= 1e-15 * Math.max(1, Math.abs(value))
  }
  return { x, value, iterations, evaluations, converged }
}
