/** Float32 arrays (CAMs, pooled features, head weights) as SQLite blobs and back. */

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
