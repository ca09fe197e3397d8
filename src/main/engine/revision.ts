/**
 * Revision stamps of the pixels a model sees: the engine's preprocessing version, sharp and libvips
 * (pipelineStamp), and a model's own preprocessing (preprocessingRevision). Model revisions
 * (modelIdentity.ts) include them, so a change to any of these makes cached CAMs and features stale
 * instead of silently showing maps computed from different pixels.
 */
import { createHash } from 'node:crypto'
import sharp from 'sharp'
import { PREPROCESS_VERSION } from './preprocess.ts'
import type { Preprocessing } from './types.ts'

/** The decoding pipeline's versions: this engine's preprocessing, sharp and libvips. */
export function pipelineStamp(): string {
  return `preprocess=${PREPROCESS_VERSION}\nsharp=${sharp.versions.sharp ?? ''}\nvips=${sharp.versions.vips}`
}

/** A 16-hex-digit stable hash; the same inputs give the same stamp across runs and machines. */
export function preprocessingRevision(modelId: string, pre: Preprocessing): string {
  // Fields listed explicitly (not JSON.stringify(pre)) so key order or extra fields cannot change it.
  const parts = [
    pipelineStamp(),
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
