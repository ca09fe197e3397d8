/**
 * Project-wide proposal settings kept in the project's meta table, so every way of running
 * proposals (the app, `camlabel propose PROJECT`) starts from the same choices.
 */
import type { UpscaleMode } from '../engine/propose.ts'
import type { ProjectStore } from '../store/projectStore.ts'

/** Meta key of the project's upscale mode (the app's project settings write it). */
export const UPSCALE_META = 'upscale'

/** The project's upscale mode: what a run uses when none is asked for (default bilinear). */
export function projectUpscale(store: Pick<ProjectStore, 'getMeta'>): UpscaleMode {
  return store.getMeta(UPSCALE_META) === 'guided' ? 'guided' : 'bilinear'
}

/** Meta key of the threshold of the project's last run that was given one. */
export const THRESHOLD_META = 'threshold'

/** The threshold a project run keeps when none is given (the last one given), if any. */
export function projectThreshold(store: Pick<ProjectStore, 'getMeta'>): number | undefined {
  const v = Number(store.getMeta(THRESHOLD_META))
  return v > 0 && v < 1 ? v : undefined
}
