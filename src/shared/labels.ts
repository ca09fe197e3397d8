/** What a label's name means to camlabel, the same on both sides of the bridge. */

/**
 * True for the negative class's name, "background" in any case: images that contain none of the
 * project's objects. A learned head trains on them; they never get boxes and are not a class of
 * any export.
 */
export function isBackgroundLabel(label: string): boolean {
  return label.trim().toLowerCase() === 'background'
}
