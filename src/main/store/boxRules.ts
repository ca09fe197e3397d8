/**
 * The store's rules for boxes: what a user's box must be to be stored (finite, non-empty, clipped
 * to the image), and when a new proposal repeats a box the user already decided on.
 */
import { clipBox, iou, type Box } from '../../shared/box.ts'
import { CamlabelError } from '../../shared/errors.ts'

/** A box row's corners as a Box. */
export const boxOf = (r: { x0: number; y0: number; x1: number; y1: number }): Box => ({
  x0: r.x0,
  y0: r.y0,
  x1: r.x1,
  y1: r.y1,
})

/** A decided box of an image (an annotation row), as new proposals are compared with it. */
export interface DecidedBox extends Box {
  class_id: number
  status: 'accepted' | 'edited' | 'manual' | 'rejected'
}

/** The same box within half a pixel on every side. */
export function sameBox(a: Box, b: Box): boolean {
  return (
    Math.abs(a.x0 - b.x0) < 0.5 &&
    Math.abs(a.y0 - b.y0) < 0.5 &&
    Math.abs(a.x1 - b.x1) < 0.5 &&
    Math.abs(a.y1 - b.y1) < 0.5
  )
}

/** A proposal equal to a decided box (rejected or kept) is not offered again. */
export function repeatsDecided(d: DecidedBox, b: Box): boolean {
  return sameBox(d, b)
}

/**
 * A decided box makes a recomputed proposal redundant: a rejected one when equal, a kept one when
 * it covers the same object (IoU ≥ 0.5: the user already has that object).
 */
export function coversDecided(d: DecidedBox, b: Box): boolean {
  return d.status === 'rejected' ? sameBox(d, b) : iou(boxOf(d), b) >= 0.5
}

/**
 * A user's box made fit for the image: checked (finite, non-empty), then clipped to the image so
 * no export ever gets a box past its edge.
 * @throws CamlabelError INVALID_ARGUMENT when the box is empty, or lies wholly outside the image
 */
export function fitBox(b: Box, width: number, height: number): Box {
  if (![b.x0, b.y0, b.x1, b.y1].every(Number.isFinite) || b.x1 <= b.x0 || b.y1 <= b.y0) {
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `Box ${JSON.stringify(b)} is empty or not finite`,
      'A box needs x0 < x1 and y0 < y1.',
    )
  }
  const c = clipBox(b, width, height)
  if (c.x1 <= c.x0 || c.y1 <= c.y0) {
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `Box ${JSON.stringify(b)} lies outside the ${width}x${height} image`,
      'Draw the box over the image.',
    )
  }
  return c
}
