/**
 * Boxes from a low-resolution CAM: upscale to the working resolution, threshold, components, boxes in
 * image pixels. Pure, so the engine and the renderer (live threshold slider) share one procedure.
 */
import { proposalsFromMap } from './boxes.ts'
import type { Map2D, ProposalOptions, RawProposal } from './types.ts'
import { resizeBilinear, workingSize } from './upscale.ts'

/**
 * Recomputes boxes from a stored low-resolution CAM without inference (the threshold slider, a re-run
 * with another threshold). Same upscaling and box procedure as the pipeline's bilinear path.
 */
export function proposalsFromCam(
  cam: Map2D,
  imageWidth: number,
  imageHeight: number,
  options: ProposalOptions,
  confidence: number,
): RawProposal[] {
  const full = upscaleForBoxes(cam, imageWidth, imageHeight, options.workingSize)
  return proposalsFromMap(full, options, imageWidth, imageHeight, confidence)
}

/** A CAM upscaled bilinearly to the image's working resolution (longest side at most `maxSide`). */
export function upscaleForBoxes(cam: Map2D, width: number, height: number, maxSide: number): Map2D {
  const size = workingSize(width, height, maxSide)
  return resizeBilinear(cam, size.width, size.height)
}

/** Divides a map by its max so stored CAMs are comparable; an all-≤0 map is returned as zeros. */
export function normaliseByMax(map: Map2D): Map2D {
  let max = -Infinity
  for (let i = 0; i < map.data.length; i++) if (map.data[i]! > max) max = map.data[i]!
  const data = new Float32Array(map.data.length)
  if (max > 0) for (let i = 0; i < data.length; i++) data[i] = map.data[i]! / max
  return { data, width: map.width, height: map.height }
}
