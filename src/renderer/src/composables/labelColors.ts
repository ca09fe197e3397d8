/**
 * One colour per label, the same in the gallery, the canvas and the lists: the label's place in
 * the project's class order picks it from a palette of distinct hues (Tableau 10). A box's review
 * status is its line style (dashed pending, solid accepted…), so colour is free for the label.
 */
const PALETTE = [
  '#4e9fff',
  '#f28e2b',
  '#59c14f',
  '#e15759',
  '#c07ad1',
  '#edc948',
  '#76c7c2',
  '#ff9da7',
  '#b0855f',
  '#bab0ac',
]

/** The colour of `label` among the project's `classes` (labels not in it get a stable hash colour). */
export function labelColor(label: string, classes: readonly string[]): string {
  const i = classes.indexOf(label)
  if (i >= 0) return PALETTE[i % PALETTE.length]!
  let h = 0
  for (const ch of label) h = (h * 31 + ch.charCodeAt(0)) >>> 0
  return PALETTE[h % PALETTE.length]!
}

/** SVG stroke dash pattern of a box's status, in units of the line width. */
export function statusDash(status: string): string | undefined {
  switch (status) {
    case 'pending':
      return '7 5'
    case 'edited':
      return '12 3 2 3'
    case 'manual':
      return '2 3'
    default:
      return undefined
  }
}
