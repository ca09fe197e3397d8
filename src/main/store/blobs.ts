/**
 * Float32 arrays (CAMs, pooled features, head weights) as SQLite blobs and back, as float32 or,
 * where half the size will do (feature cells), as float16.
 */
import { float16ToFloat32, float32ToFloat16 } from '../engine/float16.ts'

/** The array's bytes as a Buffer (no copy). */
export function floatsToBlob(data: Float32Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
}

/** A blob's bytes as a Float32Array; copied, since the Buffer's offset may not be 4-byte aligned. */
export function blobToFloats(b: Buffer): Float32Array {
  const out = new Float32Array(b.byteLength / 4)
  new Uint8Array(out.buffer).set(b)
  return out
}

/** The array as float16 bit patterns (little-endian), as a Buffer. */
export function floatsToHalfBlob(data: Float32Array): Buffer {
  const half = float32ToFloat16(data)
  return Buffer.from(half.buffer, half.byteOffset, half.byteLength)
}

/** A float16 blob (floatsToHalfBlob) back as float32; copied, as blobToFloats. */
export function halfBlobToFloats(b: Buffer): Float32Array {
  const half = new Uint16Array(b.byteLength / 2)
  new Uint8Array(half.buffer).set(b)
  return float16ToFloat32(half)
}
