/**
 * Project-wide proposal settings kept in the project's meta table, so every way of running
 * proposals (the app, `camlabel propose PROJECT`) starts from the same choices.
 */
import { isThreshold, type UpscaleMode } from '../../shared/cam/types.ts'
import type { ProjectStore } from '../store/projectStore.ts'

type Meta = Pick<ProjectStore, 'getMeta'>

/** Meta key of the project's upscale mode (the app's project settings write it). */
export const UPSCALE_META = 'upscale'

/** The project's upscale mode: what a run uses when none is asked for (default bilinear). */
export function projectUpscale(store: Meta): UpscaleMode {
  return store.getMeta(UPSCALE_META) === 'guided' ? 'guided' : 'bilinear'
}

/** Meta key of the threshold of the project's last run that was given one. */
export const THRESHOLD_META = 'threshold'

/** The threshold a project run keeps when none is given (the last one given), if any. */
export function projectThreshold(store: Meta): number | undefined {
  const v = Number(store.getMeta(THRESHOLD_META))
  return isThreshold(v) ? v : undefined
}

/** Meta key of the model (manifest id or .onnx path) the project's last run or learning used. */
export const MODEL_META = 'last_model'

/** The model the project last ran with, if any (the Classes view and status describe it). */
export function projectModel(store: Meta): string | undefined {
  return store.getMeta(MODEL_META)
}

/** Meta key of the score under which extra proposals are hidden in review. */
export const MIN_SCORE_META = 'min_score'

/**
 * The project's minimum score for extra proposals (default 0.1): an image's best proposal of a
 * label is always shown; its other proposals scoring below this are hidden in review and not
 * accepted by "Accept all" (most are clutter: a puddle at 0.04).
 */
export function projectMinScore(store: Meta): number {
  const v = Number(store.getMeta(MIN_SCORE_META))
  return store.getMeta(MIN_SCORE_META) !== undefined && v >= 0 && v <= 1 ? v : DEFAULT_MIN_SCORE
}

export const DEFAULT_MIN_SCORE = 0.1

/** Meta key of whether proposals learn from the project's reviewed boxes ('auto' or 'off'). */
export const FROM_REVIEW_META = 'from_review'

/** Whether proposals learn from reviewed boxes: 'auto' (the default) or 'off'. */
export type FromReview = 'auto' | 'off'

export function projectFromReview(store: Meta): FromReview {
  return store.getMeta(FROM_REVIEW_META) === 'off' ? 'off' : 'auto'
}
