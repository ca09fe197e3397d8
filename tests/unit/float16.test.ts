import { describe, expect, it } from 'vitest'
import {
  float16ToFloat32,
  float32ToFloat16,
  fromHalf,
  toHalf,
} from '../../src/main/engine/float16.ts'

describe('float16 conversions', () => {
  it('encodes exact values to their IEEE 754 half bit patterns', () => {
    expect(toHalf(0)).toBe(0x0000)
    expect(toHalf(-0)).toBe(0x8000)
    expect(toHalf(1)).toBe(0x3c00)
    expect(toHalf(-2)).toBe(0xc000)
    expect(toHalf(0.5)).toBe(0x3800)
    expect(toHalf(65504)).toBe(0x7bff) // the largest finite half
    expect(toHalf(2 ** -14)).toBe(0x0400) // the smallest normal
    expect(toHalf(2 ** -24)).toBe(0x0001) // the smallest subnormal
    expect(toHalf(3 * 2 ** -24)).toBe(0x0003)
    expect(toHalf(1023 * 2 ** -24)).toBe(0x03ff) // the largest subnormal
  })

  it('keeps infinities and NaN, and overflows to infinity', () => {
    expect(toHalf(Infinity)).toBe(0x7c00)
    expect(toHalf(-Infinity)).toBe(0xfc00)
    expect(toHalf(1e6)).toBe(0x7c00)
    expect(toHalf(65520)).toBe(0x7c00) // halfway past 65504 rounds to even: up, to Inf
    expect(toHalf(65519)).toBe(0x7bff)
    const nan = toHalf(NaN)
    expect(nan & 0x7c00).toBe(0x7c00)
    expect(nan & 0x3ff).not.toBe(0)
    expect(Number.isNaN(fromHalf(nan))).toBe(true)
  })

  it('rounds to nearest, ties to even', () => {
    // Between 1 (0x3c00) and 1 + 2^-10 (0x3c01): the midpoint goes to the even 0x3c00.
    expect(toHalf(1 + 2 ** -11)).toBe(0x3c00)
    // Between 0x3c01 and 0x3c02: the midpoint goes to the even 0x3c02.
    expect(toHalf(1 + 3 * 2 ** -11)).toBe(0x3c02)
    // Just above a midpoint rounds up.
    expect(toHalf(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01)
    // Subnormal ties: 0.5 and 1.5 units of 2^-24 → 0 and 2 units.
    expect(toHalf(2 ** -25)).toBe(0x0000)
    expect(toHalf(3 * 2 ** -25)).toBe(0x0002)
    // Below half the smallest subnormal underflows to a signed zero.
    expect(toHalf(2 ** -26)).toBe(0x0000)
    expect(toHalf(-(2 ** -26))).toBe(0x8000)
    // Rounding up out of the subnormals gives the smallest normal.
    expect(toHalf(2 ** -14 - 2 ** -26)).toBe(0x0400)
  })

  it('decodes bit patterns', () => {
    expect(fromHalf(0x3c00)).toBe(1)
    expect(fromHalf(0xc000)).toBe(-2)
    expect(fromHalf(0x7bff)).toBe(65504)
    expect(fromHalf(0x0001)).toBe(2 ** -24)
    expect(fromHalf(0x03ff)).toBe(1023 * 2 ** -24)
    expect(fromHalf(0x7c00)).toBe(Infinity)
    expect(fromHalf(0xfc00)).toBe(-Infinity)
    expect(Object.is(fromHalf(0x8000), -0)).toBe(true)
  })

  it('round-trips every finite half bit pattern exactly', () => {
    const wrong: number[] = []
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue // NaN payloads
      if (toHalf(fromHalf(h)) !== h) wrong.push(h)
    }
    expect(wrong).toEqual([])
  })

  it('converts arrays both ways, the table path agreeing with fromHalf', () => {
    const values = Float32Array.from([0, 1, -2, 65504, 2 ** -24, Infinity, -Infinity, NaN, 0.1])
    const halves = float32ToFloat16(values)
    expect(halves).toBeInstanceOf(Uint16Array)
    const back = float16ToFloat32(halves)
    expect(Array.from(back.subarray(0, 7))).toEqual([
      0,
      1,
      -2,
      65504,
      2 ** -24,
      Infinity,
      -Infinity,
    ])
    expect(Number.isNaN(back[7])).toBe(true)
    expect(back[8]).toBeCloseTo(0.1, 3)
    expect(back[8]).toBe(Math.fround(fromHalf(toHalf(0.1))))
    const all = new Uint16Array(0x10000).map((_, i) => i)
    const table = float16ToFloat32(all)
    const wrong: number[] = []
    for (let h = 0; h < 0x10000; h++) {
      const v = fromHalf(h)
      if (Number.isNaN(v) ? !Number.isNaN(table[h]) : table[h] !== v) wrong.push(h)
    }
    expect(wrong).toEqual([])
  })
})
