/**
 * Proposals recomputed in the renderer, without a round trip to main: the threshold slider calls
 * these on every input event and paints the result in the same frame. Same procedure as the engine
 * (src/shared/cam), so the boxes equal those a proposal run would store at that threshold.
 */
import type { CamData } from '../../../shared/contracts/common.ts'
import { decodeFloats } from '../../../shared/floats.ts'
import { proposalsFromMap } from '../../../shared/cam/boxes.ts'
import { proposalsFromCam } from '../../../shared/cam/proposals.ts'
import { DEFAULT_PROPOSAL_OPTIONS, type Map2D } from '../../../shared/cam/types.ts'

/** A label's stored low-resolution CAM as the renderer keeps it: Float32 data, ready to upscale. */
export interface LocalCam {
  label: string
  map: Map2D
  confidence: number
}

/** One proposal as the annotate view shows it. */
export interface LocalProposal {
  label: string
  box: { x0: number; y0: number; x1: number; y1: number }
  score: number
  rank: number
}

/** The CAMs of `image.get`, converted once to Float32Array maps. */
export function toLocalCams(cams: readonly CamData[]): LocalCam[] {
  return cams.map((c) => ({
    label: c.label,
    map: { data: decodeFloats(c.data), width: c.width, height: c.height },
    confidence: c.confidence,
  }))
}

/**
 * Proposals of every label from its low-resolution CAM at `threshold`, upscaled bilinearly to the
 * working resolution (longest side `workingSize`: the image's run's, for the boxes it stored).
 */
export function bilinearProposals(
  cams: readonly LocalCam[],
  width: number,
  height: number,
  threshold: number,
  workingSize: number,
): LocalProposal[] {
  const options = { ...DEFAULT_PROPOSAL_OPTIONS, threshold, workingSize }
  return cams.flatMap((c) =>
    proposalsFromCam(c.map, width, height, options, c.confidence).map((p) => ({
      label: c.label,
      ...p,
    })),
  )
}

/** Proposals of every label from maps already at working resolution (the guided, refined maps). */
export function mapProposals(
  maps: readonly LocalCam[],
  width: number,
  height: number,
  threshold: number,
): LocalProposal[] {
  const options = { ...DEFAULT_PROPOSAL_OPTIONS, threshold }
  return maps.flatMap((m) =>
    proposalsFromMap(m.map, options, width, height, m.confidence).map((p) => ({
      label: m.label,
      ...p,
    })),
  )
}
