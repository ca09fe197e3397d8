/** The annotate view's keyboard shortcuts, in one list the handler and the `?` overlay both read. */
export interface Shortcut {
  keys: string[]
  action: ShortcutAction
  help: string
}

export type ShortcutAction =
  | 'acceptAllNext'
  | 'accept'
  | 'reject'
  | 'delete'
  | 'draw'
  | 'selectNext'
  | 'selectPrev'
  | 'undo'
  | 'redo'
  | 'nextImage'
  | 'prevImage'
  | 'toggleCam'
  | 'thresholdDown'
  | 'thresholdUp'
  | 'zoomIn'
  | 'zoomOut'
  | 'fit'
  | 'gallery'
  | 'help'
  | 'escape'
  | 'label'
  | 'toggleUpscale'
  | 'useUpscale'

export const SHORTCUTS: Shortcut[] = [
  {
    keys: ['Enter'],
    action: 'acceptAllNext',
    help: 'Accept all pending boxes and go to the next image',
  },
  { keys: ['A'], action: 'accept', help: 'Accept the selected box' },
  { keys: ['R'], action: 'reject', help: 'Reject the selected box' },
  { keys: ['Delete', 'Backspace'], action: 'delete', help: 'Delete the selected box' },
  { keys: ['N'], action: 'draw', help: 'Draw a new box (drag on the image)' },
  { keys: ['1', '…', '9'], action: 'label', help: 'Set the class of the selected box' },
  { keys: ['Tab'], action: 'selectNext', help: 'Select the next box' },
  { keys: ['Shift+Tab'], action: 'selectPrev', help: 'Select the previous box' },
  { keys: ['Ctrl+Z'], action: 'undo', help: 'Undo' },
  { keys: ['Ctrl+Shift+Z', 'Ctrl+Y'], action: 'redo', help: 'Redo' },
  { keys: ['→', 'D'], action: 'nextImage', help: 'Next image' },
  { keys: ['←', 'S'], action: 'prevImage', help: 'Previous image' },
  { keys: ['H'], action: 'toggleCam', help: 'Show or hide the CAM heatmap' },
  {
    keys: ['F'],
    action: 'toggleUpscale',
    help: 'Flip the heatmap and proposals between bilinear and guided (F-CAM) upscaling',
  },
  {
    keys: ['Shift+F'],
    action: 'useUpscale',
    help: 'Use the shown (guided or bilinear) proposals in place of the pending ones',
  },
  {
    keys: ['[', ']'],
    action: 'thresholdDown',
    help: 'Lower / raise the CAM threshold (recomputes proposals)',
  },
  { keys: ['+', '−'], action: 'zoomIn', help: 'Zoom in / out (or the mouse wheel, to the cursor)' },
  { keys: ['0'], action: 'fit', help: 'Fit the image to the window' },
  { keys: ['G'], action: 'gallery', help: 'Back to the gallery' },
  { keys: ['?'], action: 'help', help: 'This help' },
  { keys: ['Esc'], action: 'escape', help: 'Deselect, leave draw mode, close overlays' },
]

/** Maps a keyboard event to an action (and the class index for 1–9). */
export function actionFor(e: KeyboardEvent): { action: ShortcutAction; index?: number } | null {
  const ctrl = e.ctrlKey || e.metaKey
  const k = e.key
  if (ctrl && (k === 'z' || k === 'Z')) return { action: e.shiftKey ? 'redo' : 'undo' }
  if (ctrl && (k === 'y' || k === 'Y')) return { action: 'redo' }
  if (ctrl || e.altKey) return null
  if (k === 'Tab') return { action: e.shiftKey ? 'selectPrev' : 'selectNext' }
  if (k >= '1' && k <= '9') return { action: 'label', index: Number(k) - 1 }
  if (k === 'F' || (e.shiftKey && k === 'f')) return { action: 'useUpscale' }
  const map: Record<string, ShortcutAction> = {
    Enter: 'acceptAllNext',
    a: 'accept',
    r: 'reject',
    Delete: 'delete',
    Backspace: 'delete',
    n: 'draw',
    ArrowRight: 'nextImage',
    d: 'nextImage',
    ArrowLeft: 'prevImage',
    s: 'prevImage',
    h: 'toggleCam',
    '[': 'thresholdDown',
    ']': 'thresholdUp',
    '+': 'zoomIn',
    '=': 'zoomIn',
    '-': 'zoomOut',
    '0': 'fit',
    g: 'gallery',
    '?': 'help',
    Escape: 'escape',
    f: 'toggleUpscale',
  }
  const action = map[k.length === 1 ? k.toLowerCase() : k] ?? map[k]
  return action ? { action } : null
}
