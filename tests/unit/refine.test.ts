import { describe, expect, it } from 'vitest'
import { iou, type Box } from '../../src/shared/box.ts'
import { CamlabelError } from '../../src/shared/errors.ts'
import { proposalsFromMap, thresholdMask } from '../../src/shared/cam/boxes.ts'
import {
  DEFAULT_REFINE_PARAMS,
  domainTransformFilter,
  domainTransformWeights,
  refineCam,
  type GuideImage,
} from '../../src/main/engine/refine.ts'
import { DEFAULT_PROPOSAL_OPTIONS, type Map2D } from '../../src/main/engine/types.ts'
import { resizeBilinear } from '../../src/shared/cam/upscale.ts'

/** A dark, slightly textured background with a bright square at `square` (x1/y1 exclusive). */
function squareImage(width: number, height: number, square: Box): GuideImage {
  const data = new Uint8Array(width * height * 3)
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const inside = x >= square.x0 && x < square.x1 && y >= square.y0 && y < square.y1
      // A deterministic texture so colours are not a single value on either side.
      const t = (x * 7 + y * 13) % 17
      const i = (y * width + x) * 3
      data[i] = inside ? 210 + t : 30 + t
      data[i + 1] = inside ? 190 + t : 40 + t
      data[i + 2] = inside ? 60 + t : 50 + t
    }
  }
  return { data, width, height }
}

/** A 13×13 CAM: a wide Gaussian blob centred on (cx, cy) in [0,1] image coordinates, max 1. */
function blurryCam(cx: number, cy: number, sigma: number): Map2D {
  const data = new Float32Array(169)
  let max = 0
  for (let y = 0; y < 13; y++) {
    for (let x = 0; x < 13; x++) {
      const dx = (x + 0.5) / 13 - cx
      const dy = (y + 0.5) / 13 - cy
      data[y * 13 + x] = Math.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))
      max = Math.max(max, data[y * 13 + x]!)
    }
  }
  for (let i = 0; i < 169; i++) data[i]! /= max
  return { data, width: 13, height: 13 }
}

function mainBox(map: Map2D): Box | undefined {
  return proposalsFromMap(map, DEFAULT_PROPOSAL_OPTIONS, map.width, map.height, 1)[0]?.box
}

const W = 256
const H = 192
const SQUARE: Box = { x0: 70, y0: 50, x1: 170, y1: 140 }
// The CAM peaks off the square's centre and spreads well past it, as a 13×13 CAM does.
const CAM = blurryCam(0.4, 0.5, 0.15)
const GUIDE = squareImage(W, H, SQUARE)

describe('refineCam on a bright square with a blurry low-resolution CAM', () => {
  it('gives a box that matches the square far better than bilinear upscaling', () => {
    const bilinear = mainBox(resizeBilinear(CAM, W, H))!
    const refined = mainBox(refineCam(CAM, GUIDE))!
    const bilinearIou = iou(bilinear, SQUARE)
    const refinedIou = iou(refined, SQUARE)
    expect(bilinearIou).toBeLessThan(0.65)
    expect(refinedIou).toBeGreaterThan(0.9)
    expect(refinedIou - bilinearIou).toBeGreaterThan(0.3)
  })

  it('returns a map at the guide size with values in 0..1 and a max of 1', () => {
    const out = refineCam(CAM, GUIDE)
    expect(out.width).toBe(W)
    expect(out.height).toBe(H)
    expect(out.data).toHaveLength(W * H)
    let min = Infinity
    let max = -Infinity
    for (const v of out.data) {
      min = Math.min(min, v)
      max = Math.max(max, v)
    }
    expect(min).toBeGreaterThanOrEqual(0)
    expect(max).toBeCloseTo(1, 6)
  })

  it('is deterministic', () => {
    const a = refineCam(CAM, GUIDE)
    const b = refineCam(CAM, GUIDE)
    expect(Buffer.from(a.data.buffer).equals(Buffer.from(b.data.buffer))).toBe(true)
  })

  it('follows the square edges: the thresholded map is the square, pixel for pixel, almost', () => {
    const mask = thresholdMask(refineCam(CAM, GUIDE), DEFAULT_REFINE_PARAMS.threshold)
    let wrong = 0
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const inside = x >= SQUARE.x0 && x < SQUARE.x1 && y >= SQUARE.y0 && y < SQUARE.y1
        if ((mask[y * W + x] === 1) !== inside) wrong++
      }
    }
    expect(wrong / (W * H)).toBeLessThan(0.01)
  })

  it('keeps the foreground within the size constraint', () => {
    const prior = thresholdMask(resizeBilinear(CAM, W, H), 0.2).reduce((s, v) => s + v, 0)
    const maxAreaRatio = 0.5
    const mask = thresholdMask(refineCam(CAM, GUIDE, { maxAreaRatio }), 0.2)
    const area = mask.reduce((s, v) => s + v, 0)
    // 1024-level histogram of the beliefs: the bound holds up to ties at one level.
    expect(area).toBeLessThanOrEqual(maxAreaRatio * prior * 1.02)
    expect(area).toBeGreaterThan(0.3 * prior)
  })

  it('scales to another guide size (a 13×13 CAM to 512×384)', () => {
    const big = squareImage(512, 384, { x0: 140, y0: 100, x1: 340, y1: 280 })
    const out = refineCam(CAM, big)
    expect([out.width, out.height]).toEqual([512, 384])
    expect(iou(mainBox(out)!, { x0: 140, y0: 100, x1: 340, y1: 280 })).toBeGreaterThan(0.9)
  })
})

describe('refineCam edge cases', () => {
  it('an all-zero CAM gives an all-zero map and no proposal', () => {
    const out = refineCam({ data: new Float32Array(169), width: 13, height: 13 }, GUIDE)
    expect(out.data.every((v) => v === 0)).toBe(true)
    expect(mainBox(out)).toBeUndefined()
  })

  it('a negative CAM is treated as empty', () => {
    const out = refineCam({ data: new Float32Array(169).fill(-1), width: 13, height: 13 }, GUIDE)
    expect(out.data.every((v) => v === 0)).toBe(true)
  })

  it('NaN cells in the CAM count as no activation and do not spread', () => {
    const cam = { data: CAM.data.slice(), width: 13, height: 13 }
    cam.data[0] = NaN
    cam.data[12] = NaN
    const out = refineCam(cam, GUIDE)
    expect(out.data.every((v) => Number.isFinite(v))).toBe(true)
    expect(iou(mainBox(out)!, SQUARE)).toBeGreaterThan(0.9)
  })

  it('a flat CAM gives a flat map (the whole image), inventing no edges', () => {
    const out = refineCam({ data: new Float32Array(169).fill(1), width: 13, height: 13 }, GUIDE)
    expect(out.data.every((v) => v === 1)).toBe(true)
    expect(mainBox(out)).toEqual({ x0: 0, y0: 0, x1: W, y1: H })
  })

  it('a 1×1 CAM is flat too', () => {
    const out = refineCam({ data: Float32Array.of(0.8), width: 1, height: 1 }, GUIDE)
    expect(out.data.every((v) => v === 1)).toBe(true)
  })

  it('a 1×1 guide works', () => {
    const out = refineCam(CAM, { data: Uint8Array.of(10, 20, 30), width: 1, height: 1 })
    expect(out.width * out.height).toBe(1)
    expect(out.data[0]).toBe(1)
  })

  it('a uniform image gives no colour evidence: the box does not grow past bilinear', () => {
    const grey: GuideImage = { data: new Uint8Array(W * H * 3).fill(128), width: W, height: H }
    const bilinear = mainBox(resizeBilinear(CAM, W, H))!
    const refined = mainBox(refineCam(CAM, grey))!
    expect(refined.x0).toBeGreaterThanOrEqual(bilinear.x0)
    expect(refined.y0).toBeGreaterThanOrEqual(bilinear.y0)
    expect(refined.x1).toBeLessThanOrEqual(bilinear.x1)
    expect(refined.y1).toBeLessThanOrEqual(bilinear.y1)
    // Still around the CAM's peak (x = 0.4 · W, y = 0.5 · H), not collapsed.
    expect((refined.x0 + refined.x1) / 2).toBeCloseTo(0.4 * W, -1)
    expect((refined.y0 + refined.y1) / 2).toBeCloseTo(0.5 * H, -1)
    expect(iou(refined, bilinear)).toBeGreaterThan(0.4)
  })

  it('refuses bad parameters and guides with a clear INVALID_ARGUMENT', () => {
    const bad = (f: () => unknown): CamlabelError => {
      try {
        f()
      } catch (err) {
        return err as CamlabelError
      }
      throw new Error('expected a throw')
    }
    const e1 = bad(() => refineCam(CAM, GUIDE, { threshold: 1.5 }))
    expect(e1).toBeInstanceOf(CamlabelError)
    expect(e1.code).toBe('INVALID_ARGUMENT')
    expect(e1.message).toMatch(/threshold/)
    expect(bad(() => refineCam(CAM, GUIDE, { colourBins: 7 })).message).toMatch(/colourBins/)
    expect(bad(() => refineCam(CAM, GUIDE, { iterations: 1.5 })).message).toMatch(/iterations/)
    expect(
      bad(() => refineCam(CAM, { data: new Uint8Array(10), width: W, height: H })).message,
    ).toMatch(/guide\.data/)
    expect(bad(() => refineCam(CAM, { data: new Uint8Array(0), width: 0, height: 0 })).code).toBe(
      'INVALID_ARGUMENT',
    )
  })
})

describe('domainTransformFilter', () => {
  it('smooths within a region but not across a strong edge', () => {
    // Left half black, right half white; the signal is a step at a different place (x = 4).
    const w = 16
    const data = new Uint8Array(w * 3)
    for (let x = 8; x < w; x++) data.fill(255, x * 3, x * 3 + 3)
    const weights = domainTransformWeights({ data, width: w, height: 1 }, 4, 10, 1)
    const f = new Float32Array(w)
    for (let x = 0; x < 4; x++) f[x] = 1
    for (let x = 8; x < w; x++) f[x] = 0.5
    domainTransformFilter(f, w, 1, weights)
    // Inside the black half the step at x = 4 is smoothed: values cross it gradually.
    expect(f[3]!).toBeLessThan(1)
    expect(f[4]!).toBeGreaterThan(0)
    // Across the colour edge (x = 7 | 8) nearly nothing passes.
    expect(Math.abs(f[8]! - 0.5)).toBeLessThan(0.01)
  })

  it('keeps a constant signal constant', () => {
    const guide = squareImage(32, 24, { x0: 5, y0: 5, x1: 20, y1: 15 })
    const weights = domainTransformWeights(guide, 6, 30, 2)
    const f = new Float32Array(32 * 24).fill(0.3)
    domainTransformFilter(f, 32, 24, weights)
    for (const v of f) expect(v).toBeCloseTo(0.3, 6)
  })
})
