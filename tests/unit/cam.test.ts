import { describe, expect, it } from 'vitest'
import {
  agnosticCam,
  camForClass,
  camFromFeatures,
  classMapChannel,
  topK,
} from '../../src/main/engine/cam.ts'
import type { FeatureMaps, ForwardResult, LinearClassifier } from '../../src/main/engine/types.ts'

/** Two 2×2 feature channels: F0 = [1 2; 3 4], F1 = [0 1; 0 -1]. */
const features: FeatureMaps = {
  data: Float32Array.from([1, 2, 3, 4, 0, 1, 0, -1]),
  channels: 2,
  height: 2,
  width: 2,
}

/** Three classes over the two channels, W is [3 × 2]. */
const classifier: LinearClassifier = {
  weights: Float32Array.from([1, 0, /* class 1 */ 0.5, 2, /* class 2 */ -1, 1]),
  bias: Float32Array.from([10, 20, 30]),
  numClasses: 3,
  numFeatures: 2,
}

describe('camFromFeatures', () => {
  it('is the weighted sum of the feature maps, without bias', () => {
    // 0.5·[1 2; 3 4] + 2·[0 1; 0 -1] = [0.5 3; 1.5 0]
    const cam = camFromFeatures(features, Float32Array.from([0.5, 2]))
    expect(cam.width).toBe(2)
    expect(cam.height).toBe(2)
    expect(Array.from(cam.data)).toEqual([0.5, 3, 1.5, 0])
  })

  it('refuses a weight row of the wrong length', () => {
    expect(() => camFromFeatures(features, new Float32Array(3))).toThrow(/weights/)
  })

  it('handles a non-square map in row-major order', () => {
    const f: FeatureMaps = {
      data: Float32Array.from([1, 2, 3, 4, 5, 6]),
      channels: 1,
      height: 2,
      width: 3,
    }
    const cam = camFromFeatures(f, Float32Array.from([-2]))
    expect(cam).toMatchObject({ width: 3, height: 2 })
    expect(Array.from(cam.data)).toEqual([-2, -4, -6, -8, -10, -12])
  })
})

describe('classMapChannel and camForClass', () => {
  it('takes one channel of a class-map tensor as a copy', () => {
    const m = classMapChannel(features, 1)
    expect(Array.from(m.data)).toEqual([0, 1, 0, -1])
    m.data[0] = 99
    expect(features.data[4]).toBe(0)
    expect(() => classMapChannel(features, 2)).toThrow(/index/)
  })

  it('uses the classifier row of the class when there are no class maps', () => {
    const fwd: ForwardResult = { probabilities: new Float32Array(3), features }
    // class 2: -1·F0 + 1·F1 = [-1 -1; -3 -5]
    expect(Array.from(camForClass(fwd, classifier, 2).data)).toEqual([-1, -1, -3, -5])
    expect(Array.from(camForClass(fwd, classifier, 1).data)).toEqual([0.5, 3, 1.5, 0])
    expect(() => camForClass(fwd, classifier, 3)).toThrow(/classIndex/)
  })

  it('prefers the model’s own class maps when present', () => {
    const classMaps: FeatureMaps = {
      data: Float32Array.from([1, 0, 0, 0, 0, 0, 0, 7, 2, 2, 2, 2]),
      channels: 3,
      height: 2,
      width: 2,
    }
    const fwd: ForwardResult = { probabilities: new Float32Array(3), features, classMaps }
    expect(Array.from(camForClass(fwd, classifier, 1).data)).toEqual([0, 0, 0, 7])
  })
})

describe('topK', () => {
  it('returns the indices of the largest values, largest first', () => {
    expect(topK(Float32Array.from([0.1, 0.5, 0.2, 0.9, 0.3]), 3)).toEqual([3, 1, 4])
    expect(topK(Float32Array.from([0.1, 0.5]), 5)).toEqual([1, 0])
    expect(topK(Float32Array.from([NaN, 0.2, 0.2]), 1)).toEqual([1])
  })
})

describe('agnosticCam', () => {
  it('is the probability-weighted sum of the top classes’ max-normalised CAMs', () => {
    const fwd: ForwardResult = { probabilities: Float32Array.from([0.6, 0.3, 0.1]), features }
    const { map, classes } = agnosticCam(fwd, classifier, 2)
    expect(classes).toEqual([0, 1])
    // class 0: F0 / 4 = [.25 .5; .75 1]; class 1: [0.5 3; 1.5 0] / 3 = [1/6 1; .5 0]
    // weights 0.6/0.9 and 0.3/0.9
    const w0 = 0.6 / 0.9
    const w1 = 0.3 / 0.9
    const expected = [0.25 * w0 + w1 / 6, 0.5 * w0 + w1, 0.75 * w0 + 0.5 * w1, w0]
    map.data.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6))
  })

  it('skips classes whose CAM has no positive value', () => {
    const fwd: ForwardResult = { probabilities: Float32Array.from([0.1, 0.2, 0.7]), features }
    const { map, classes } = agnosticCam(fwd, classifier, 2)
    expect(classes).toEqual([2, 1])
    // class 2's CAM is all negative: only class 1 contributes, with weight 0.2/0.9
    const expected = [0.5 / 3, 1, 0.5, 0].map((v) => (v * 0.2) / 0.9)
    map.data.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6))
  })
})
