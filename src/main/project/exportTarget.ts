/**
 * What an export may replace. `--overwrite` (the app's "Replace") replaces an earlier camlabel
 * export of the same format, and nothing else: a COCO file camlabel wrote (its info names
 * camlabel), or a VOC / YOLO folder with camlabel's marker file — or, for folders written before
 * the marker existed, exactly the layout camlabel writes. A folder of anything else (a thesis, a
 * dataset of another tool) is refused with what it holds.
 */
import { open, readdir, readFile } from 'node:fs/promises'
import path from 'node:path'

/** The marker file every VOC and YOLO export carries at its top. */
export const EXPORT_MARKER = '.camlabel-export.json'

/** The marker's content for an export of `format`. */
export function exportMarker(format: 'voc' | 'yolo'): string {
  return JSON.stringify({ writer: 'camlabel', format, version: 1 }) + '\n'
}

/** What camlabel writes at the top of a folder export, per format (before the marker existed). */
const LAYOUT: Record<'voc' | 'yolo', ReadonlySet<string>> = {
  voc: new Set(['JPEGImages', 'Annotations', 'ImageSets', 'labels.txt', 'labelmap.txt']),
  yolo: new Set([
    'images',
    'labels',
    'data.yaml',
    'classes.txt',
    'train.txt',
    'val.txt',
    'notes.json',
  ]),
}
const REQUIRED: Record<'voc' | 'yolo', string[]> = {
  voc: ['Annotations', 'ImageSets'],
  yolo: ['labels', 'data.yaml'],
}

/** Why `dest` is not an earlier camlabel export of `format` (undefined when it is one). */
export async function notAnExport(
  format: 'coco' | 'voc' | 'yolo',
  dest: string,
): Promise<string | undefined> {
  if (format === 'coco') {
    const fh = await open(dest, 'r')
    try {
      const head = Buffer.alloc(4096)
      const { bytesRead } = await fh.read(head, 0, head.length, 0)
      const text = head.subarray(0, bytesRead).toString('utf8')
      return /"description"\s*:\s*"camlabel /.test(text)
        ? undefined
        : 'it is not a COCO file camlabel wrote'
    } finally {
      await fh.close()
    }
  }
  const names = await readdir(dest)
  if (names.includes(EXPORT_MARKER)) {
    try {
      const marker = JSON.parse(await readFile(path.join(dest, EXPORT_MARKER), 'utf8')) as {
        writer?: string
        format?: string
      }
      if (marker.writer === 'camlabel' && marker.format === format) return undefined
      return `it is a camlabel ${marker.format ?? '?'} export, not ${format}`
    } catch {
      return `its ${EXPORT_MARKER} is not camlabel's`
    }
  }
  const foreign = names.filter((n) => !LAYOUT[format].has(n))
  if (foreign.length > 0 || !REQUIRED[format].every((n) => names.includes(n))) {
    const listed = foreign.slice(0, 3).join(', ') + (foreign.length > 3 ? ', …' : '')
    return `it is not a camlabel ${format.toUpperCase()} export${foreign.length ? ` (it holds ${listed})` : ''}`
  }
  return undefined
}
