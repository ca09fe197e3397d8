/**
 * IEEE 754 half-precision conversions. onnxruntime-node exchanges float16 tensors as Uint16Array
 * bit patterns, so models with float16 inputs or outputs (SqueezeNet 1.1 fp16) go through these.
 */

const f32 = new Float32Array(1)
const u32 = new Uint32Array(f32.buffer)

/** Rounds one float32 to the nearest float16 bit pattern (round half to even), with Inf/NaN kept. */
export function toHalf(value: number): number {
  f32[0] = value
  const x = u32[0]!
  const sign = (x >>> 16) & 0x8000
  const exp = (x >>> 23) & 0xff
  let mant = x & 0x7fffff
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0)
  const e = exp - 127 + 15
  if (e >= 0x1f) return sign | 0x7c00
  if (e <= 0) {
    if (e < -10) return sign
    mant |= 0x800000
    const shift = 14 - e
    let half = mant >>> shift
    const rem = mant & ((1 << shift) - 1)
    const mid = 1 << (shift - 1)
    if (rem > mid || (rem === mid && (half & 1) !== 0)) half++
    return sign | half
  }
  let half = (e << 10) | (mant >>> 13)
  const rem = mant & 0x1fff
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1) !== 0)) half++
  return sign | half
}

/** Decodes one float16 bit pattern. */
export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1
  const exp = (h >>> 10) & 0x1f
  const mant = h & 0x3ff
  if (exp === 0) return sign * mant * 2 ** -24
  if (exp === 0x1f) return mant ? NaN : sign * Infinity
  return sign * (1 + mant / 1024) * 2 ** (exp - 15)
}

/** Float32 → float16 bit patterns, element by element. */
export function float32ToFloat16(
  src: Float32Array,
  dst = new Uint16Array(src.length),
): Uint16Array {
  for (let i = 0; i < src.length; i++) dst[i] = toHalf(src[i]!)
  return dst
}

/** Every float16 bit pattern's value, built at first use (65 536 fromHalf calls: each thread that
 * only encodes, as the image threads do, is spared them). */
let halfTable: Float32Array | undefined

function table(): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536)
    for (let i = 0; i < 65536; i++) halfTable[i] = fromHalf(i)
  }
  return halfTable
}

/** One float16 bit pattern → its value, through the lookup table (fromHalf, fast). */
export function halfValue(h: number): number {
  return table()[h]!
}

/** Float16 bit patterns → float32, through a 64 K lookup table (the hot path for model outputs). */
export function float16ToFloat32(
  src: Uint16Array,
  dst = new Float32Array(src.length),
): Float32Array {
  const t = table()
  for (let i = 0; i < src.length; i++) dst[i] = t[src[i]!]!
  return dst
}
