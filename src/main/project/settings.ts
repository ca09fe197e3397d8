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
