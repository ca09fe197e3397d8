/**
 * Upscaling CAMs to the working resolution. The bilinear sampling is OpenCV's cv2.resize with
 * INTER_LINEAR (the Python reference and most CAM papers use it): pixel centres are aligned
 * (src = (dst + 0.5) · in / out − 0.5) and samples outside the source take the border value.
 */
import { invalidParameter } from '../errors.ts'
import type { Map2D } from './types.ts'

/** Per-output-coordinate source indices and the weight of the second one, computed once per axis. */
interface AxisTaps {
  i0: Int32Array
  i1: Int32Array
  w1: Float32Array
}

function axisTaps(inSize: number, outSize: number): AxisTaps {
  const i0 = new Int32Array(outSize)
  const i1 = new Int32Array(outSize)
  const w1 = new Float32Array(outSize)
  const scale = inSize / outSize
  for (let d = 0; d < outSize; d++) {
    const f = (d + 0.5) * scale - 0.5
    let s = Math.floor(f)
    let frac = f - s
    // As OpenCV: left of the first centre or right of the last one, the border pixel alone.
    if (s < 0) {
      s = 0
      frac = 0
    }
    if (s >= inSize - 1) {
      s = inSize - 1
      frac = 0
    }
    i0[d] = s
    i1[d] = Math.min(s + 1, inSize - 1)
    w1[d] = frac
  }
  return { i0, i1, w1 }
}

function checkSize(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) throw invalidParameter(name, 'an integer ≥ 1', value)
}

/**
 * Resizes a map to width × height with OpenCV INTER_LINEAR sampling. Separable: one horizontal
 * pass over the source rows into a (source height × width) buffer, then one vertical pass, with
 * taps precomputed per axis, so the cost is O(out pixels) and nothing is allocated per pixel.
 */
export function resizeBilinear(map: Map2D, width: number, height: number): Map2D {
  checkSize('width', width)
  checkSize('height', height)
  checkSize('map.width', map.width)
  checkSize('map.height', map.height)
  const src = map.data
  const inW = map.width
  const inH = map.height
  if (src.length < inW * inH) throw invalidParameter('map.data', `${inW * inH} values`, src.length)
  if (inW === width && inH === height) return { data: src.slice(0, inW * inH), width, height }

  const xs = axisTaps(inW, width)
  const ys = axisTaps(inH, height)
  const rows = new Float32Array(inH * width)
  for (let y = 0; y < inH; y++) {
    const s = y * inW
    const d = y * width
    for (let x = 0; x < width; x++) {
      const a = src[s + xs.i0[x]!]!
      const b = src[s + xs.i1[x]!]!
      rows[d + x] = a + (b - a) * xs.w1[x]!
    }
  }
  const out = new Float32Array(width * height)
  for (let y = 0; y < height; y++) {
    const r0 = ys.i0[y]! * width
    const r1 = ys.i1[y]! * width
    const w = ys.w1[y]!
    const d = y * width
    if (w === 0) {
      out.set(rows.subarray(r0, r0 + width), d)
      continue
    }
    for (let x = 0; x < width; x++) {
      const a = rows[r0 + x]!
      out[d + x] = a + (rows[r1 + x]! - a) * w
    }
  }
  return { data: out, width, height }
}

/**
 * The image's size scaled so its longest side is at most `maxSide` (never upscaled), each side at
 * least 1 pixel. CAMs are upscaled to this size rather than to the full image: boxes are scaled back,
 * and a 6000×4000 photo does not cost 24 M pixels of map per class.
 */
export function workingSize(
  imageWidth: number,
  imageHeight: number,
  maxSide: number,
): { width: number; height: number } {
  checkSize('imageWidth', imageWidth)
  checkSize('imageHeight', imageHeight)
  checkSize('maxSide', maxSide)
  const s = Math.min(1, maxSide / Math.max(imageWidth, imageHeight))
  return {
    width: Math.min(maxSide, Math.max(1, Math.round(imageWidth * s))),
    height: Math.min(maxSide, Math.max(1, Math.round(imageHeight * s))),
  }
}
