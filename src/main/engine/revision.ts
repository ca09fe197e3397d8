/**
 * The preprocessing revision: a short stamp of everything that decides the pixels a model sees
 * (sharp and libvips versions, this engine's preprocessing version, the model id and its
 * preprocessing). Cached CAMs and proposals carry it, so a change to any of these makes them stale
 * instead of silently showing maps computed from different pixels.
 */
import { createHash } from 'node:crypto'
import sharp from 'sharp'
import { PREPROCESS_VERSION } from './preprocess.ts'
import type { Preprocessing } from './types.ts'

/** A 16-hex-digit stable hash; the same inputs give the same stamp across runs and machines. */
export function preprocessingRevision(modelId: string, pre: Preprocessing): string {
  // Fields listed explicitly (not JSON.stringify(pre)) so key order or extra fields cannot change it.
  const parts = [
    `preprocess=${PREPROCESS_VERSION}`,
    `sharp=${sharp.versions.sharp ?? ''}`,
    `vips=${sharp.versions.vips}`,
    `model=${modelId}`,
    `size=${pre.width}x${pre.height}`,
    `order=${pre.channelOrder}`,
    `scale=${pre.scale}`,
    `mean=${pre.mean.join(',')}`,
    `std=${pre.std.join(',')}`,
    `dtype=${pre.dtype}`,
  ]
  return createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16)
}
