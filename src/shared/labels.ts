/** What a label's name means to camlabel, the same on both sides of the bridge. */

/**
 * True for the negative class's name, "background" in any case: images that contain none of the
 * project's objects. A learned head trains on them; they never get boxes and are not a class of
 * any export.
 */
export function isBackgroundLabel(label: string): boolean {
  return label.trim().toLowerCase() === 'background'
}

/** True when `text` holds a control character or a line or paragraph separator. */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x20 || c === 0x7f || c === 0x85 || c === 0x2028 || c === 0x2029) return true
  }
  return false
}

/** The longest label camlabel takes (a class name, not a description). */
export const MAX_LABEL_LENGTH = 200

/**
 * Why `label` cannot be a class name, or undefined when it can: empty, too long, or holding a line
 * break, tab or other control character (a class list — classes.txt, labelmap.txt, YOLO's names
 * — is one name per line, so such a name would shift every class index for other tools).
 */
export function labelProblem(label: string): string | undefined {
  const name = label.trim()
  if (name === '') return 'a label cannot be empty'
  if (hasControlCharacter(name))
    return `the label ${JSON.stringify(name.slice(0, 60))} holds a line break or control character`
  if (name.length > MAX_LABEL_LENGTH)
    return `a label is at most ${MAX_LABEL_LENGTH} characters (this one has ${name.length})`
  return undefined
}
