import { describe, expect, it } from 'vitest'
import { resizeBilinear, workingSize } from '../../src/shared/cam/upscale.ts'
import type { Map2D } from '../../src/main/engine/types.ts'

const map = (width: number, height: number, values: number[]): Map2D => ({
  data: Float32Array.from(values),
  width,
  height,
})

describe('resizeBilinear (OpenCV INTER_LINEAR sampling)', () => {
  it('2×2 → 4×4 gives OpenCV’s values (half-pixel centres, border replicated)', () => {
    // cv2.resize(np.float32([[0,1],[2,3]]), (4,4), interpolation=cv2.INTER_LINEAR)
    const out = resizeBilinear(map(2, 2, [0, 1, 2, 3]), 4, 4)
    expect(out).toMatchObject({ width: 4, height: 4 })
    expect(Array.from(out.data)).toEqual([
      0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3,
    ])
  })

  it('2 → 3 puts the middle sample halfway and the ends on the source pixels', () => {
    const out = resizeBilinear(map(2, 1, [4, 10]), 3, 1)
    expect(Array.from(out.data)).toEqual([4, 7, 10])
  })

  it('halving averages pairs of pixels', () => {
    const out = resizeBilinear(map(4, 2, [1, 3, 5, 9, 2, 4, 6, 10]), 2, 1)
    // rows averaged (1+2)/2 .. then pairs: ((1.5+3.5)/2, (5.5+9.5)/2)
    expect(Array.from(out.data)).toEqual([2.5, 7.5])
  })

  it('keeps a constant map constant', () => {
    const out = resizeBilinear(map(13, 13, new Array(169).fill(0.37)), 512, 300)
    const c = Math.fround(0.37)
    expect(out.data.every((v) => v === c)).toBe(true)
  })

  it('keeps a linear ramp a ramp in the interior and flat at the borders', () => {
    const ramp = map(13, 2, [
      ...Array.from({ length: 13 }, (_, x) => x),
      ...Array.from({ length: 13 }, (_, x) => x),
    ])
    const out = resizeBilinear(ramp, 512, 3)
    for (let y = 0; y < 3; y++) {
      for (let x = 0; x < 512; x++) {
        const f = ((x + 0.5) * 13) / 512 - 0.5
        const expected = Math.min(12, Math.max(0, f))
        expect(out.data[y * 512 + x]).toBeCloseTo(expected, 4)
      }
    }
    expect(out.data[0]).toBe(0)
    expect(out.data[511]).toBe(12)
  })

  it('the same size is a copy', () => {
    const m = map(2, 1, [1, 2])
    const out = resizeBilinear(m, 2, 1)
    out.data[0] = 5
    expect(m.data[0]).toBe(1)
  })

  it('refuses sizes that are not positive integers', () => {
    expect(() => resizeBilinear(map(1, 1, [1]), 0, 3)).toThrow(/width/)
    expect(() => resizeBilinear(map(1, 1, [1]), 2, 1.5)).toThrow(/height/)
  })

  it('a 1×1 map fills the output', () => {
    expect(Array.from(resizeBilinear(map(1, 1, [3]), 2, 2).data)).toEqual([3, 3, 3, 3])
  })
})

describe('workingSize', () => {
  it('scales the longest side down to maxSide, keeping the aspect ratio', () => {
    expect(workingSize(2000, 1333, 512)).toEqual({ width: 512, height: 341 })
    expect(workingSize(417, 650, 512)).toEqual({ width: 328, height: 512 })
  })

  it('never upscales', () => {
    expect(workingSize(227, 227, 512)).toEqual({ width: 227, height: 227 })
  })

  it('keeps at least one pixel on the short side of an extreme aspect', () => {
    expect(workingSize(6000, 40, 512)).toEqual({ width: 512, height: 3 })
    expect(workingSize(100000, 1, 512)).toEqual({ width: 512, height: 1 })
  })
})
