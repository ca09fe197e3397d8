/**
 * What an export may replace. `--overwrite` (the app's "Replace") replaces an earlier camlabel
 * export of the same format, and nothing else: a COCO file camlabel wrote (its info names
 * camlabel), a COCO archive with camlabel's archive comment, a results file in camlabel's own
 * form, or a VOC / YOLO folder with camlabel's marker file — or, for folders written before the
 * marker existed, exactly the layout camlabel writes. A folder of anything else (a thesis, a
 * dataset of another tool) is refused with what it holds.
 */
import { open, readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { zipComment } from '../formats/zipArchive.ts'

/** The comment of every COCO archive camlabel writes. */
export const ARCHIVE_COMMENT = 'camlabel coco export'

/** What a file-like export is, to tell an earlier one of the same kind. */
export type FileExport = 'coco' | 'coco-zip' | 'coco-results'

async function head(file: string, at: 'start' | 'end', bytes = 4096): Promise<Buffer> {
  const fh = await open(file, 'r')
  try {
    const size = (await fh.stat()).size
    const n = Math.min(bytes, size)
    const buf = Buffer.alloc(n)
    await fh.read(buf, 0, n, at === 'start' ? 0 : size - n)
    return buf
  } finally {
    await fh.close()
  }
}

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
  format: FileExport | 'voc' | 'yolo',
  dest: string,
): Promise<string | undefined> {
  if (format === 'coco') {
    const text = (await head(dest, 'start')).toString('utf8')
    return /"description"\s*:\s*"camlabel /.test(text)
      ? undefined
      : 'it is not a COCO file camlabel wrote'
  }
  if (format === 'coco-zip')
    return zipComment(await head(dest, 'end', 65_557)) === ARCHIVE_COMMENT
      ? undefined
      : 'it is not a COCO archive camlabel wrote'
  if (format === 'coco-results') {
    // camlabel writes results compactly, in this key order: another tool's file differs.
    const text = (await head(dest, 'start', 64)).toString('utf8')
    return /^\[(\]|\{"image_id":\d+,"category_id":)/.test(text)
      ? undefined
      : 'it is not a COCO results file camlabel wrote'
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
