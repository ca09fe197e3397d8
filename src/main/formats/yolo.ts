/**
 * YOLO (Darknet/Ultralytics) labels: one `labels/<image stem>.txt` per image with lines
 * `class cx cy w h`, all normalised to [0, 1] by the image's displayed width and height; class
 * names in `data.yaml` (`names:`) or `classes.txt` (one per line). Box ↔ YOLO:
 * cx = (x0 + x1) / 2 / W, w = (x1 - x0) / W, and back x0 = (cx - w/2) W, x1 = (cx + w/2) W.
 */
import { parse as parseYaml } from 'yaml'
import { clipBox, type Box } from '../../shared/box.ts'
import { CamlabelError } from '../../shared/errors.ts'
import type { Problem } from './dataset.ts'

/** Box → normalised [cx, cy, w, h] (6 decimals, sub-pixel for any image under 10⁶ px wide). */
export function boxToYolo(b: Box, width: number, height: number): [number, number, number, number] {
  const r = (v: number) => Math.round(v * 1e6) / 1e6
  return [
    r((b.x0 + b.x1) / 2 / width),
    r((b.y0 + b.y1) / 2 / height),
    r((b.x1 - b.x0) / width),
    r((b.y1 - b.y0) / height),
  ]
}

/** Normalised [cx, cy, w, h] → Box in pixels. */
export function yoloToBox(v: readonly number[], width: number, height: number): Box {
  const [cx, cy, w, h] = v
  return {
    x0: (cx - w / 2) * width,
    y0: (cy - h / 2) * height,
    x1: (cx + w / 2) * width,
    y1: (cy + h / 2) * height,
  }
}

/** The label file text of one image (pure). `classIndex` maps a label to its 0-based index. */
export function toYoloLabels(
  boxes: { box: Box; label: string }[],
  width: number,
  height: number,
  classIndex: Map<string, number>,
): string {
  return (
    boxes
      .map((b) => `${classIndex.get(b.label)} ${boxToYolo(b.box, width, height).join(' ')}`)
      .join('\n') + (boxes.length ? '\n' : '')
  )
}

/**
 * Parses one label file. Each bad line (too few fields, non-numeric or NaN, unknown class index,
 * centre outside [0, 1], non-positive size) is reported with its 1-based line number and skipped.
 * Boxes reaching past the edge are clipped to the image.
 */
export function parseYoloLabels(
  text: string,
  classes: readonly string[],
  width: number,
  height: number,
  source = 'labels',
): { boxes: { label: string; box: Box }[]; problems: Problem[] } {
  const boxes: { label: string; box: Box }[] = []
  const problems: Problem[] = []
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1
    const t = raw.trim()
    if (t === '' || t.startsWith('#')) return
    const f = t.split(/\s+/)
    const bad = (reason: string) =>
      problems.push({ file: source, line, reason: `${reason}: '${t}'` })
    if (f.length < 5) return bad('expected 5 fields (class cx cy w h)')
    const nums = f.map(Number)
    if (!nums.every(Number.isFinite)) return bad('a field is not a number')
    const c = nums[0]!
    if (!Number.isInteger(c) || c < 0 || c >= classes.length)
      return bad(`unknown class ${f[0]} (${classes.length} classes)`)
    // class x1 y1 x2 y2 … (at least 3 points): a segmentation polygon; its bounding box is the
    // object's box, as Ultralytics takes it for detection.
    if (f.length > 5) {
      const xy = nums.slice(1)
      if (xy.length % 2 !== 0 || xy.length < 6)
        return bad('expected 5 fields (class cx cy w h) or a polygon (class x1 y1 x2 y2 x3 y3 …)')
      if (!xy.every((v) => v >= 0 && v <= 1)) return bad('a polygon point lies outside [0, 1]')
      const xs = xy.filter((_, k) => k % 2 === 0)
      const ys = xy.filter((_, k) => k % 2 === 1)
      const b = {
        x0: Math.min(...xs) * width,
        y0: Math.min(...ys) * height,
        x1: Math.max(...xs) * width,
        y1: Math.max(...ys) * height,
      }
      if (b.x1 <= b.x0 || b.y1 <= b.y0) return bad('the polygon has no area')
      boxes.push({ label: classes[c]!, box: clipBox(b, width, height) })
      return
    }
    const [, cx, cy, w, h] = nums as [number, number, number, number, number]
    if (cx < 0 || cx > 1 || cy < 0 || cy > 1) return bad('centre outside [0, 1]')
    if (w <= 0 || h <= 0 || w > 1 || h > 1) return bad('width/height must be in (0, 1]')
    const b = yoloToBox([cx, cy, w, h], width, height)
    boxes.push({ label: classes[c]!, box: clipBox(b, width, height) })
  })
  return { boxes, problems }
}

/**
 * `data.yaml` for a YOLO export (Ultralytics layout): `train`, `val` (when there is one) and
 * `names`, nothing else, so that it loads as it is wherever the folder is moved:
 * - no `path`: Ultralytics then takes the folder of data.yaml as the dataset root, while a
 *   relative `path` is resolved against the working directory or its datasets folder
 *   (ultralytics/data/utils.py, check_det_dataset);
 * - no `nc`: CVAT's importer takes every key but its reserved ones for a subset (datumaro's
 *   YoloPath.RESERVED_CONFIG_KEYS), and Ultralytics counts `names` itself.
 */
export function toDataYaml(
  classes: readonly string[],
  split: { train: string; val?: string },
): string {
  const q = (s: string) => JSON.stringify(s)
  return [
    "# written by camlabel; paths are relative to this file's folder",
    `train: ${q(split.train)}`,
    ...(split.val ? [`val: ${q(split.val)}`] : []),
    'names:',
    ...classes.map((c, i) => `  ${i}: ${q(c)}`),
    '',
  ].join('\n')
}

/**
 * What camlabel reads of a `data.yaml`: `names` as a list or as an index → name mapping (the forms
 * Ultralytics reads), and `path`, through a YAML library's safe load (anchors and aliases
 * resolved, no custom tags, alias expansion bounded). `names` is undefined when there is none.
 * @throws CamlabelError PARSE_ERROR for text that is not YAML, naming the line
 */
export function parseDataYaml(
  text: string,
  source = 'data.yaml',
): { names?: string[]; path?: string } {
  let doc: unknown
  try {
    doc = parseYaml(text, { maxAliasCount: 100, prettyErrors: true })
  } catch (err) {
    const pos = (err as { linePos?: { line: number; col: number }[] }).linePos?.[0]
    throw new CamlabelError(
      'PARSE_ERROR',
      `${source} is not valid YAML${pos ? ` at line ${pos.line}, column ${pos.col}` : ''}`,
      'Fix the file, or export the dataset again from its tool.',
    )
  }
  const d = (doc ?? {}) as { names?: unknown; path?: unknown }
  const out: { names?: string[]; path?: string } = {}
  if (typeof d.path === 'string' && d.path.trim() !== '') out.path = d.path
  if (Array.isArray(d.names)) out.names = d.names.map((n) => String(n))
  else if (d.names && typeof d.names === 'object')
    out.names = Object.entries(d.names as Record<string, unknown>)
      .filter(([k]) => /^\d+$/.test(k))
      .sort((a, b) => Number(a[0]) - Number(b[0]))
      .map(([, v]) => String(v))
  return out
}

/** Class names from `classes.txt` (one per line, blank lines ignored). */
export function parseClassesTxt(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((s) => s.trim())
    .filter((s) => s !== '')
}

/**
 * Deterministic train/val split: a seeded Fisher–Yates shuffle (mulberry32) of the indices; the
 * first round(n·valFraction) go to val. The same seed always gives the same split.
 */
export function seededSplit(
  n: number,
  valFraction: number,
  seed: number,
): { train: number[]; val: number[] } {
  let s = seed >>> 0
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const idx = Array.from({ length: n }, (_, i) => i)
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1))
    ;[idx[i], idx[j]] = [idx[j], idx[i]]
  }
  const nVal = Math.round(n * valFraction)
  return {
    val: idx.slice(0, nVal).sort((a, b) => a - b),
    train: idx.slice(nVal).sort((a, b) => a - b),
  }
}
