import { describe, expect, it } from 'vitest'
import { connectedComponents, proposalsFromMap, thresholdMask } from '../../src/shared/cam/boxes.ts'
import { DEFAULT_PROPOSAL_OPTIONS, type Map2D } from '../../src/main/engine/types.ts'

/** Parses a picture like '#.\n.#' into a 0/1 mask. */
function mask(picture: string): { mask: Uint8Array; width: number; height: number } {
  const rows = picture
    .trim()
    .split('\n')
    .map((r) => r.trim())
  const width = rows[0]!.length
  const m = new Uint8Array(width * rows.length)
  rows.forEach((r, y) => [...r].forEach((ch, x) => (m[y * width + x] = ch === '#' ? 1 : 0)))
  return { mask: m, width, height: rows.length }
}

function components(picture: string) {
  const { mask: m, width, height } = mask(picture)
  return connectedComponents(m, width, height)
}

describe('thresholdMask', () => {
  it('keeps pixels at or above the fraction of the max', () => {
    const m: Map2D = { data: Float32Array.from([0, 1, 2, 5, 10, -3]), width: 6, height: 1 }
    expect(Array.from(thresholdMask(m, 0.2))).toEqual([0, 0, 1, 1, 1, 0])
    expect(Array.from(thresholdMask(m, 0.5))).toEqual([0, 0, 0, 1, 1, 0])
    expect(Array.from(thresholdMask(m, 1))).toEqual([0, 0, 0, 0, 1, 0])
  })

  it('gives an empty mask for a map with nothing above zero', () => {
    const m: Map2D = { data: Float32Array.from([0, -1, -2, 0]), width: 2, height: 2 }
    expect(Array.from(thresholdMask(m, 0.2))).toEqual([0, 0, 0, 0])
  })

  it('refuses a fraction outside [0, 1]', () => {
    const m: Map2D = { data: new Float32Array(1), width: 1, height: 1 }
    expect(() => thresholdMask(m, 1.5)).toThrow(/fraction/)
    expect(() => thresholdMask(m, NaN)).toThrow(/fraction/)
  })
})

describe('connectedComponents (8-connected)', () => {
  it('joins two pixels that touch only diagonally', () => {
    const { components: cs } = components(`
      #.
      .#`)
    expect(cs).toHaveLength(1)
    expect(cs[0]).toMatchObject({ label: 1, area: 2, box: { x0: 0, y0: 0, x1: 2, y1: 2 } })
  })

  it('joins along the anti-diagonal too (the NE neighbour)', () => {
    const { components: cs } = components(`
      ..#
      .#.
      #..`)
    expect(cs).toHaveLength(1)
    expect(cs[0]!.area).toBe(3)
  })

  it('separates blobs with a gap and labels them in raster order', () => {
    const { labels, components: cs } = components(`
      ##..#
      ##..#
      .....
      ..###`)
    expect(cs.map((c) => c.area)).toEqual([4, 2, 3])
    expect(cs[0]!.box).toEqual({ x0: 0, y0: 0, x1: 2, y1: 2 })
    expect(cs[1]!.box).toEqual({ x0: 4, y0: 0, x1: 5, y1: 2 })
    expect(cs[2]!.box).toEqual({ x0: 2, y0: 3, x1: 5, y1: 4 })
    expect(Array.from(labels.subarray(0, 5))).toEqual([1, 1, 0, 0, 2])
    expect(Array.from(labels.subarray(15, 20))).toEqual([0, 0, 3, 3, 3])
  })

  it('merges a U shape whose arms are first seen as separate labels', () => {
    const { labels, components: cs } = components(`
      #...#.#
      #...#.#
      #####.#
      ......#
      ####..#
      ...####`)
    expect(cs).toHaveLength(2)
    expect(cs[0]!.area).toBe(9)
    expect(cs[1]!.area).toBe(13)
    expect(new Set(labels)).toEqual(new Set([0, 1, 2]))
  })

  it('a ring is one component, its hole background', () => {
    const { labels, components: cs } = components(`
      #####
      #...#
      #...#
      #####`)
    expect(cs).toHaveLength(1)
    expect(cs[0]).toMatchObject({ area: 14, box: { x0: 0, y0: 0, x1: 5, y1: 4 } })
    expect(labels[1 * 5 + 2]).toBe(0)
  })

  it('labels a full 512×512 mask as one component without overflowing the stack', () => {
    const full = new Uint8Array(512 * 512).fill(1)
    const { components: cs } = connectedComponents(full, 512, 512)
    expect(cs).toHaveLength(1)
    expect(cs[0]).toMatchObject({ area: 512 * 512, box: { x0: 0, y0: 0, x1: 512, y1: 512 } })
  })

  it('handles a checkerboard (worst case for provisional labels) as one component', () => {
    const w = 257
    const h = 255
    const m = new Uint8Array(w * h)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = (x + y) % 2 === 0 ? 1 : 0
    const { components: cs } = connectedComponents(m, w, h)
    expect(cs).toHaveLength(1)
    expect(cs[0]!.area).toBe(Math.ceil((w * h) / 2))
  })

  it('isolated dots each get a label (the provisional-label bound holds)', () => {
    const w = 9
    const h = 7
    const m = new Uint8Array(w * h)
    for (let y = 0; y < h; y += 2) for (let x = 0; x < w; x += 2) m[y * w + x] = 1
    const { components: cs } = connectedComponents(m, w, h)
    expect(cs).toHaveLength(5 * 4)
    expect(cs.every((c) => c.area === 1)).toBe(true)
  })

  it('sums the values of each component when given', () => {
    const {
      mask: m,
      width,
      height,
    } = mask(`
      #..
      ..#`)
    const { components: cs } = connectedComponents(
      m,
      width,
      height,
      Float32Array.from([2, 9, 9, 9, 9, 3]),
    )
    expect(cs.map((c) => c.sum)).toEqual([2, 3])
  })

  it('an empty mask has no components', () => {
    expect(connectedComponents(new Uint8Array(6), 3, 2).components).toEqual([])
    expect(connectedComponents(new Uint8Array(0), 0, 0).components).toEqual([])
  })
})

describe('proposalsFromMap', () => {
  /** A 10×6 map: a large blob (value 1) on the left, a small strong one on the right, noise. */
  function twoBlobs(): Map2D {
    const w = 10
    const h = 6
    const data = new Float32Array(w * h)
    for (let y = 1; y < 5; y++) for (let x = 0; x < 4; x++) data[y * w + x] = 1 // 16 px, mass 16
    for (let y = 2; y < 4; y++) for (let x = 7; x < 9; x++) data[y * w + x] = 2 // 4 px, mass 8
    data[0 * w + 9] = 0.3 // below 0.2·2? no: 0.3 < 0.4, background at the default threshold
    return { data, width: w, height: h }
  }

  it('the main proposal is the box around the largest component, scaled to the image', () => {
    const out = proposalsFromMap(twoBlobs(), DEFAULT_PROPOSAL_OPTIONS, 100, 30)
    expect(out[0]!.rank).toBe(0)
    // map 10×6 → image 100×30: sx 10, sy 5
    expect(out[0]!.box).toEqual({ x0: 0, y0: 5, x1: 40, y1: 25 })
    expect(out[1]).toMatchObject({ rank: 1, box: { x0: 70, y0: 10, x1: 90, y1: 20 } })
    expect(out).toHaveLength(2)
  })

  it('scores: trust (1 + c) / 2 times the mass share, the main one above every extra', () => {
    const out = proposalsFromMap(twoBlobs(), DEFAULT_PROPOSAL_OPTIONS, 10, 6, 0.8)
    // shares 16/24 and 8/24, trust 0.9
    expect(out[0]!.score).toBeCloseTo((0.9 * (1 + 16 / 24)) / 2, 6)
    expect(out[1]!.score).toBeCloseTo((0.9 * (8 / 24)) / 2, 6)
    expect(out[0]!.score).toBeGreaterThan(out[1]!.score)
  })

  it('a single component scores the full trust; a doubting classifier lowers it, never to 0', () => {
    const m: Map2D = { data: Float32Array.from([0, 1, 0, 0]), width: 2, height: 2 }
    expect(proposalsFromMap(m, DEFAULT_PROPOSAL_OPTIONS, 2, 2, 0.7)).toEqual([
      { box: { x0: 1, y0: 0, x1: 2, y1: 1 }, score: 0.85, rank: 0 },
    ])
    expect(proposalsFromMap(m, DEFAULT_PROPOSAL_OPTIONS, 2, 2, 1)[0]!.score).toBe(1)
    expect(proposalsFromMap(m, DEFAULT_PROPOSAL_OPTIONS, 2, 2, 0)[0]!.score).toBe(0.5)
  })

  it('honours the threshold fraction', () => {
    // at 0.6 of max 2 (1.2), only the strong small blob survives and becomes the main proposal
    const out = proposalsFromMap(twoBlobs(), { ...DEFAULT_PROPOSAL_OPTIONS, threshold: 0.6 }, 10, 6)
    expect(out).toHaveLength(1)
    expect(out[0]!.box).toEqual({ x0: 7, y0: 2, x1: 9, y1: 4 })
    // at 0.1 (0.2), the 0.3 pixel joins as a third component but is smaller than 10% of 16 px
    const low = proposalsFromMap(twoBlobs(), { ...DEFAULT_PROPOSAL_OPTIONS, threshold: 0.1 }, 10, 6)
    expect(low).toHaveLength(2)
    const keepAll = { ...DEFAULT_PROPOSAL_OPTIONS, threshold: 0.1, minExtraFraction: 0 }
    expect(proposalsFromMap(twoBlobs(), keepAll, 10, 6)).toHaveLength(3)
  })

  it('ranks extras by size and keeps at most maxExtra', () => {
    const w = 20
    const data = new Float32Array(w * 3)
    const blob = (x0: number, len: number) => {
      for (let x = x0; x < x0 + len; x++) data[w + x] = 1
    }
    blob(0, 2)
    blob(3, 5)
    blob(9, 3)
    blob(13, 4)
    const m: Map2D = { data, width: w, height: 3 }
    const out = proposalsFromMap(
      m,
      { ...DEFAULT_PROPOSAL_OPTIONS, maxExtra: 2, minExtraFraction: 0 },
      w,
      3,
    )
    expect(out.map((p) => [p.rank, p.box.x0, p.box.x1])).toEqual([
      [0, 3, 8],
      [1, 13, 17],
      [2, 9, 12],
    ])
    const none = proposalsFromMap(m, { ...DEFAULT_PROPOSAL_OPTIONS, maxExtra: 0 }, w, 3)
    expect(none).toHaveLength(1)
  })

  it('boxes stay inside the image for an extreme aspect ratio', () => {
    const m: Map2D = { data: new Float32Array(512 * 3).fill(1), width: 512, height: 3 }
    const [p] = proposalsFromMap(m, DEFAULT_PROPOSAL_OPTIONS, 6000, 40)
    expect(p!.box).toEqual({ x0: 0, y0: 0, x1: 6000, y1: 40 })
  })

  it('an empty or all-negative map gives no proposals', () => {
    const m: Map2D = { data: Float32Array.from([-1, -2, 0, -4]), width: 2, height: 2 }
    expect(proposalsFromMap(m, DEFAULT_PROPOSAL_OPTIONS, 10, 10)).toEqual([])
  })
})
