/**
 * Pascal VOC XML: reader and writer. VOC corners are 1-based inclusive pixel indices: a box over
 * pixel columns 0..9 (Box x0 0, x1 10) is xmin 1, xmax 10. So xmin = x0 + 1, xmax = x1 (same for y),
 * and back x0 = xmin - 1, x1 = xmax. Written corners are rounded to whole pixels, as VOC tools expect.
 *
 * Safety: XML is parsed with entity processing off (fast-xml-parser, processEntities false), and a
 * document type declaring entities is refused before parsing: no external entity is ever fetched
 * (XXE) and no entity is ever expanded (billion laughs), in constant time and memory.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { clipBox, type Box } from '../../shared/box.ts'
import { CamlabelError } from '../../shared/errors.ts'
import { labelProblem } from '../../shared/labels.ts'
import { boxAttributes, type BoxAttributes, type DatasetImage, type Problem } from './dataset.ts'

/** VOC corners (1-based, inclusive). */
export interface VocBndbox {
  xmin: number
  ymin: number
  xmax: number
  ymax: number
}

/**
 * Box → VOC corners, rounded to whole pixels. A box thinner than a pixel keeps at least one pixel
 * (`{x0: 10.5, x1: 11.4}` rounds to 11..11 and would otherwise give xmin 12 > xmax 11).
 */
export function boxToVoc(b: Box): VocBndbox {
  const xmin = Math.round(b.x0) + 1
  const ymin = Math.round(b.y0) + 1
  return {
    xmin,
    ymin,
    xmax: Math.max(Math.round(b.x1), xmin),
    ymax: Math.max(Math.round(b.y1), ymin),
  }
}

/** VOC corners → Box. */
export function vocToBox(v: VocBndbox): Box {
  return { x0: v.xmin - 1, y0: v.ymin - 1, x1: v.xmax, y1: v.ymax }
}

function escapeXml(s: string): string {
  return s
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;')
}

/**
 * The VOC XML of one image (pure). `folder` is written as given; `filename` is the image path
 * relative to the root. Every object has `pose`, `truncated`, `difficult` and `occluded` (its
 * attributes, else Unspecified and 0): the devkit and datumaro read the flags as exactly 0 or 1.
 */
export function toVocXml(image: DatasetImage, folder = 'images'): string {
  const flag = (v: boolean | undefined) => (v ? 1 : 0)
  const objects = image.boxes
    .map((b) => {
      const v = boxToVoc(b.box)
      const a = b.attributes ?? {}
      return [
        '\t<object>',
        `\t\t<name>${escapeXml(b.label)}</name>`,
        `\t\t<pose>${escapeXml(a.pose ?? 'Unspecified')}</pose>`,
        `\t\t<truncated>${flag(a.truncated)}</truncated>`,
        `\t\t<difficult>${flag(a.difficult)}</difficult>`,
        `\t\t<occluded>${flag(a.occluded)}</occluded>`,
        ...(b.score !== undefined ? [`\t\t<score>${Math.round(b.score * 1e4) / 1e4}</score>`] : []),
        '\t\t<bndbox>',
        `\t\t\t<xmin>${v.xmin}</xmin>`,
        `\t\t\t<ymin>${v.ymin}</ymin>`,
        `\t\t\t<xmax>${v.xmax}</xmax>`,
        `\t\t\t<ymax>${v.ymax}</ymax>`,
        '\t\t</bndbox>',
        '\t</object>',
      ].join('\n')
    })
    .join('\n')
  return [
    '<annotation>',
    `\t<folder>${escapeXml(folder)}</folder>`,
    `\t<filename>${escapeXml(image.file)}</filename>`,
    '\t<size>',
    `\t\t<width>${image.width}</width>`,
    `\t\t<height>${image.height}</height>`,
    '\t\t<depth>3</depth>',
    '\t</size>',
    '\t<segmented>0</segmented>',
    ...(objects ? [objects] : []),
    '</annotation>',
    '',
  ].join('\n')
}

/** What parseVocXml returns: the filename as written, the size, the objects, per-object problems. */
export interface VocIn {
  filename: string
  width?: number
  height?: number
  objects: { label: string; box: Box; attributes?: BoxAttributes }[]
  problems: Problem[]
}

const parser = new XMLParser({
  processEntities: false,
  htmlEntities: false,
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  isArray: (name) => name === 'object',
})

const ENTITY_DECL = /<!ENTITY/i

/** The text with comments and CDATA sections blanked (an entity named there declares nothing). */
function markup(text: string): string {
  return text.replace(/<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>/g, '')
}

/**
 * The text of an XML file's bytes: UTF-16 (either byte order) by its byte-order mark, else UTF-8
 * (a UTF-8 byte-order mark dropped).
 */
export function xmlText(bytes: Uint8Array): string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (b[0] === 0xff && b[1] === 0xfe) return b.subarray(2).toString('utf16le')
  if (b[0] === 0xfe && b[1] === 0xff) {
    const swapped = Buffer.from(b.subarray(2))
    swapped.swap16()
    return swapped.toString('utf16le')
  }
  const text = b.toString('utf8')
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
}

const PREDEFINED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

/**
 * Decodes the five predefined XML entities and numeric character references — a fixed table, no
 * declared entities — since the parser runs with entity processing off.
 */
export function decodeXmlText(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (m, e: string) => {
    if (e[0] !== '#') return PREDEFINED[e]
    const cp = e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10)
    return cp > 0 && cp <= 0x10ffff ? String.fromCodePoint(cp) : m
  })
}

/**
 * Parses one VOC annotation file. Objects with a bad box are reported and skipped; boxes reaching
 * past the image edge (when the size is known) are clipped with a warning.
 * @throws CamlabelError PARSE_ERROR naming the file and the line/column for malformed XML, and for
 *   documents that declare entities (refused: never expanded, never fetched)
 */
export function parseVocXml(text: string, source = 'VOC file'): VocIn {
  // Refused before any parsing, so a bomb costs one linear scan: VOC files never need entities.
  if (ENTITY_DECL.test(markup(text))) {
    throw new CamlabelError(
      'PARSE_ERROR',
      `${source} declares XML entities, which camlabel refuses (they can read local files or expand without bound)`,
      'Remove the <!DOCTYPE …> block; VOC files do not need it.',
    )
  }
  const valid = XMLValidator.validate(text)
  if (valid !== true) {
    const { line, col, msg } = valid.err
    throw new CamlabelError(
      'PARSE_ERROR',
      `${source} is not well-formed XML at line ${line}, column ${col}: ${msg}`,
      'The file may be truncated; export it again.',
    )
  }
  let doc: { annotation?: Record<string, unknown> }
  try {
    doc = parser.parse(text) as typeof doc
  } catch (err) {
    throw new CamlabelError('PARSE_ERROR', `${source}: ${(err as Error).message}`, undefined, {
      cause: err,
    })
  }
  const ann = doc.annotation
  if (!ann || typeof ann !== 'object')
    throw new CamlabelError('PARSE_ERROR', `${source} has no <annotation> element: not a VOC file`)
  const str = (v: unknown) =>
    typeof v === 'string' ? decodeXmlText(v) : v === undefined || v === null ? '' : String(v)
  const num = (v: unknown) => (str(v).trim() === '' ? NaN : Number(str(v)))
  const size = (ann.size ?? {}) as Record<string, unknown>
  const w = num(size.width)
  const h = num(size.height)
  const sizeOk = Number.isFinite(w) && Number.isFinite(h) && w > 0 && h > 0
  const out: VocIn = { filename: str(ann.filename).trim(), objects: [], problems: [] }
  if (sizeOk) {
    out.width = w
    out.height = h
  }
  const objects = (Array.isArray(ann.object) ? ann.object : []) as Record<string, unknown>[]
  objects.forEach((o, i) => {
    const label = str(o?.name).trim()
    const bb = (o?.bndbox ?? {}) as Record<string, unknown>
    const v = { xmin: num(bb.xmin), ymin: num(bb.ymin), xmax: num(bb.xmax), ymax: num(bb.ymax) }
    const where = `object ${i + 1}${label ? ` ('${label}')` : ''}`
    if (label === '') {
      out.problems.push({ file: source, reason: `${where} has no <name>; skipped` })
      return
    }
    const bad = labelProblem(label)
    if (bad) {
      out.problems.push({ file: source, reason: `object ${i + 1}: ${bad}; skipped` })
      return
    }
    if (![v.xmin, v.ymin, v.xmax, v.ymax].every(Number.isFinite)) {
      out.problems.push({
        file: source,
        reason: `${where} has a missing or non-numeric <bndbox>; skipped`,
      })
      return
    }
    let box = vocToBox(v)
    if (sizeOk && (box.x0 < 0 || box.y0 < 0 || box.x1 > w || box.y1 > h)) {
      const clipped = clipBox(box, w, h)
      out.problems.push({
        file: source,
        reason: `${where} box ${v.xmin},${v.ymin}-${v.xmax},${v.ymax} reaches past the ${w}x${h} image; clipped`,
      })
      box = clipped
    }
    if (box.x1 <= box.x0 || box.y1 <= box.y0) {
      out.problems.push({
        file: source,
        reason: `${where} box ${v.xmin},${v.ymin}-${v.xmax},${v.ymax} is empty; skipped`,
      })
      return
    }
    const attributes = boxAttributes((flag) => str(o[flag]).trim() === '1', str(o.pose))
    out.objects.push({ label, box, ...(attributes ? { attributes } : {}) })
  })
  return out
}

/**
 * VOC's class-index colour map (the devkit's `VOClabelcolormap`: the bits of the index spread over
 * R, G and B from the high bit down), which datumaro and CVAT write into labelmap.txt.
 */
export function vocColor(index: number): [number, number, number] {
  const rgb: [number, number, number] = [0, 0, 0]
  let i = index
  for (let shift = 7; shift >= 0; shift--) {
    for (let c = 0; c < 3; c++) rgb[c] |= ((i >> c) & 1) << shift
    i >>= 3
  }
  return rgb
}

/**
 * `labelmap.txt`, the class list CVAT's and datumaro's VOC importers read (lines
 * `name:r,g,b:parts:actions`, `background` first as they write it); without it they know only
 * VOC's 20 classes. A class name with ':' cannot be written there.
 * @throws CamlabelError INVALID_ARGUMENT naming such a class
 */
export function toVocLabelmap(classes: readonly string[]): string {
  const bad = classes.find((c) => c.includes(':'))
  if (bad !== undefined)
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `The class '${bad}' has a ':', which VOC's labelmap.txt uses to separate its fields`,
      'Rename the class (in the label list), then export again.',
    )
  const names = ['background', ...classes.filter((c) => c !== 'background')]
  return (
    '# label:color_rgb:parts:actions\n' +
    names.map((n, i) => `${n}:${vocColor(i).join(',')}::\n`).join('')
  )
}
