/**
 * The CAM map and proposal types, shared by the engine (main process) and the renderer, which
 * recomputes an image's boxes from its stored low-resolution CAM when the threshold slider moves.
 * Maps are row-major Float32Array: a map of width w has data[y * w + x].
 */
import type { Box } from '../box.ts'

/** A single-channel 2-D map (a CAM, an upscaled CAM, a mask as 0/1 floats). */
export interface Map2D {
  data: Float32Array
  width: number
  height: number
}

/** Settings of the box stage. */
export interface ProposalOptions {
  /** Fraction of the map's max below which pixels are background (the paper's 0.2). */
  threshold: number
  /** Longest side of the working resolution the CAM is upscaled to; boxes are scaled back. */
  workingSize: number
  /** How many extra (non-largest) components become lower-scored proposals. */
  maxExtra: number
  /** Extra components smaller than this fraction of the largest are dropped. */
  minExtraFraction: number
}

/** How a low-resolution CAM becomes a full-resolution map: bilinear, or guided by the image (F-CAM). */
export const UPSCALE_MODES = ['bilinear', 'guided'] as const
export type UpscaleMode = (typeof UPSCALE_MODES)[number]

/** The box threshold's range (a fraction of the map's max), wherever a threshold is taken. */
export const THRESHOLD_RANGE = { min: 0.01, max: 0.99 } as const

/** True for a threshold inside THRESHOLD_RANGE. */
export function isThreshold(value: number): boolean {
  return value >= THRESHOLD_RANGE.min && value <= THRESHOLD_RANGE.max
}

export const DEFAULT_PROPOSAL_OPTIONS: ProposalOptions = {
  threshold: 0.2,
  workingSize: 512,
  maxExtra: 2,
  minExtraFraction: 0.1,
}

/** A proposed box for one class in one image, in displayed-image pixels. */
export interface RawProposal {
  box: Box
  /** 0..1; the main (largest-component) proposal scores highest. */
  score: number
  /** 0 for the main proposal, 1.. for extra components in decreasing size. */
  rank: number
}
