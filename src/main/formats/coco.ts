/**
 * COCO detection JSON: reader and writer. COCO boxes are `[x, y, width, height]` in pixels, with
 * (x, y) the top-left corner — the same corner as Box's (x0, y0), and width = x1 - x0.
 * Writer: categories get ids 1..n in class order, images their project ids (stable across exports,
 * so a results file and a reviewed export of one project agree), annotations ids 1..n in order;
 * `area` is w*h, `iscrowd` 0, `segmentation` empty; proposals carry `score`.
 */
import type { Box } from '../../shared/box.ts'
import { CamlabelError } from '../../shared/errors.ts'
import { labelProblem } from '../../shared/labels.ts'
import { writeFileAtomic, type AtomicOptions } from './atomicWrite.ts'
import {
  boxAttributes,
  type BoxAttributes,
  type Dataset,
  type DatasetImage,
  type Problem,
} from './dataset.ts'
import { parseJsonFile } from './json.ts'

/** COCO bbox [x, y, w, h] → Box. */
export function cocoToBox(bbox: readonly number[]): Box {
  const [x, y, w, h] = bbox
  return { x0: x, y0: y, x1: x + w, y1: y + h }
}

/** Box → COCO bbox [x, y, w, h], rounded to 2 decimals (hundredths of a pixel). */
export function boxToCoco(b: Box): [number, number, number, number] {
  return [round2(b.x0), round2(b.y0), round2(b.x1 - b.x0), round2(b.y1 - b.y0)]
}

function round2(v: number): number {
  return Math.round(v * 100) / 100
}

/**
 * The COCO object camlabel writes: what pycocotools and datumaro (CVAT's "COCO 1.0") require —
 * every annotation has `id`, `image_id`, `category_id`, `bbox`, `area`, `iscrowd` and
 * `segmentation` (an empty list for a box; datumaro refuses an annotation without it) — plus
 * `info` and `licenses` as COCO's own files have them.
 */
export interface CocoJson {
  info: {
    year: number
    version: string
    description: string
    contributor: string
    url: string
    date_created: string
  }
  licenses: { id: number; name: string; url: string }[]
  images: { id: number; file_name: string; width: number; height: number; license: number }[]
  categories: { id: number; name: string; supercategory: string }[]
  annotations: CocoAnnotationOut[]
}

/** One written annotation. */
export interface CocoAnnotationOut {
  id: number
  image_id: number
  category_id: number
  segmentation: []
  area: number
  bbox: [number, number, number, number]
  iscrowd: 0
  score?: number
  attributes?: BoxAttributes
}

/** One detection of a results file (pycocotools' `loadRes`, COCO's detection results format). */
export interface CocoResult {
  image_id: number
  category_id: number
  bbox: [number, number, number, number]
  score: number
}

/** Category ids: 1-based in class order (0 is "no class" to datumaro and CVAT). */
function categoryIds(classes: readonly string[]): Map<string, number> {
  return new Map(classes.map((c, i) => [c, i + 1]))
}

/** An image's COCO id: its project id when it has one (stable across exports), else its rank. */
const imageIdOf = (img: DatasetImage, index: number) => img.id ?? index + 1

const roundScore = (v: number) => Math.round(v * 1e4) / 1e4

/**
 * Builds COCO JSON from a dataset (pure). Boxes whose label is not in `dataset.classes` are a
 * programming error and throw INTERNAL.
 */
export function toCoco(
  dataset: Dataset,
  info: { description?: string; date?: Date } = {},
): CocoJson {
  const catId = categoryIds(dataset.classes)
  const date = info.date ?? new Date()
  const out: CocoJson = {
    info: {
      year: date.getUTCFullYear(),
      version: '1.0',
      description: info.description ?? 'camlabel export',
      contributor: 'camlabel',
      url: '',
      date_created: date.toISOString(),
    },
    licenses: [{ id: 0, name: '', url: '' }],
    images: [],
    categories: dataset.classes.map((name, i) => ({ id: i + 1, name, supercategory: '' })),
    annotations: [],
  }
  let annId = 0
  dataset.images.forEach((img, i) => {
    const imageId = imageIdOf(img, i)
    out.images.push({
      id: imageId,
      file_name: img.file,
      width: img.width,
      height: img.height,
      license: 0,
    })
    for (const b of img.boxes) {
      const category = catId.get(b.label)
      if (category === undefined)
        throw new CamlabelError('INTERNAL', `class '${b.label}' is not in the class list`)
      const bbox = boxToCoco(b.box)
      const ann: CocoAnnotationOut = {
        id: ++annId,
        image_id: imageId,
        category_id: category,
        segmentation: [],
        area: round2(bbox[2] * bbox[3]),
        bbox,
        iscrowd: 0,
      }
      if (b.score !== undefined) ann.score = roundScore(b.score)
      if (b.attributes && Object.keys(b.attributes).length) ann.attributes = { ...b.attributes }
      out.annotations.push(ann)
    }
  })
  return out
}

/**
 * The detections of a dataset as a COCO results array (pure): one entry per box with a score, the
 * image and category ids a `toCoco` export of the same project uses.
 */
export function toCocoResults(dataset: Dataset): CocoResult[] {
  const catId = categoryIds(dataset.classes)
  return dataset.images.flatMap((img, i) =>
    img.boxes.flatMap((b) => {
      const category = catId.get(b.label)
      if (category === undefined || b.score === undefined) return []
      return [
        {
          image_id: imageIdOf(img, i),
          category_id: category,
          bbox: boxToCoco(b.box),
          score: roundScore(b.score),
        },
      ]
    }),
  )
}

/** Writes a dataset as COCO JSON, atomically (see atomicWrite.ts). */
export async function writeCoco(
  dataset: Dataset,
  outPath: string,
  options: AtomicOptions & { description?: string } = {},
): Promise<void> {
  const json = toCoco(dataset, { description: options.description })
  await writeFileAtomic(outPath, JSON.stringify(json, null, 1) + '\n', options)
}

/** An image read from COCO: `file` as written in file_name (not yet checked against a root). */
export interface CocoImageIn {
  id: number
  file: string
  width?: number
  height?: number
  boxes: { box: Box; label: string; score?: number; attributes?: BoxAttributes }[]
}

/** What parseCoco returns. */
export interface CocoIn {
  /** Category names, in the order of their ids. */
  classes: string[]
  images: CocoImageIn[]
  problems: Problem[]
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v)

/**
 * Parses COCO JSON text. Every invalid entry is reported (duplicate ids, unknown image or category,
 * non-positive or non-finite box sizes, missing file names) and skipped; the rest is returned.
 * Images without a usable width/height keep them undefined (the importer reads the header).
 * @throws CamlabelError PARSE_ERROR naming the file, line and column when the JSON itself is broken
 */
export function parseCoco(text: string, source = 'COCO file'): CocoIn {
  const data = parseJsonFile(text, source)
  const d = data as { images?: unknown; categories?: unknown; annotations?: unknown }
  if (
    typeof d !== 'object' ||
    d === null ||
    !Array.isArray(d.images) ||
    !Array.isArray(d.categories)
  ) {
    throw new CamlabelError(
      'PARSE_ERROR',
      `${source} is not COCO: it needs 'images' and 'categories' arrays`,
    )
  }
  const problems: Problem[] = []
  const categories = new Map<number, string>()
  const order: { id: number; name: string }[] = []
  for (const c of d.categories as { id?: unknown; name?: unknown }[]) {
    if (!isNum(c?.id) || typeof c?.name !== 'string' || c.name.trim() === '') {
      problems.push({
        file: source,
        reason: `category ${JSON.stringify(c)} needs a numeric id and a name; skipped`,
      })
    } else if (labelProblem(c.name)) {
      problems.push({ file: source, reason: `category ${c.id}: ${labelProblem(c.name)}; skipped` })
    } else if (categories.has(c.id)) {
      problems.push({
        file: source,
        reason: `duplicate category id ${c.id} ('${c.name}', already '${categories.get(c.id)}'); skipped`,
      })
    } else {
      categories.set(c.id, c.name.trim())
      order.push({ id: c.id, name: c.name.trim() })
    }
  }
  order.sort((a, b) => a.id - b.id)
  const classes = [...new Set(order.map((c) => c.name))]
  const images = new Map<number, CocoImageIn>()
  for (const im of d.images as {
    id?: unknown
    file_name?: unknown
    width?: unknown
    height?: unknown
  }[]) {
    if (!isNum(im?.id) || typeof im?.file_name !== 'string' || im.file_name === '') {
      problems.push({
        file: source,
        reason: `image ${JSON.stringify(im)} needs a numeric id and a file_name; skipped`,
      })
      continue
    }
    if (images.has(im.id)) {
      problems.push({
        file: source,
        reason: `duplicate image id ${im.id} ('${im.file_name}'); skipped`,
      })
      continue
    }
    const ok = isNum(im.width) && isNum(im.height) && im.width > 0 && im.height > 0
    images.set(im.id, {
      id: im.id,
      file: im.file_name,
      width: ok ? (im.width as number) : undefined,
      height: ok ? (im.height as number) : undefined,
      boxes: [],
    })
  }
  // Annotation ids only name annotations: a file that reuses them (merged exports) loses nothing,
  // and is reported once.
  const annIds = new Set<number>()
  const reused: number[] = []
  const used = new Set<string>()
  for (const a of (Array.isArray(d.annotations) ? d.annotations : []) as Record<
    string,
    unknown
  >[]) {
    const reasons: string[] = []
    const id = a?.id
    if (isNum(id)) {
      if (annIds.has(id)) reused.push(id)
      annIds.add(id)
    }
    const image = isNum(a?.image_id) ? images.get(a.image_id) : undefined
    if (!image) reasons.push(`unknown image_id ${JSON.stringify(a?.image_id)}`)
    const label = isNum(a?.category_id) ? categories.get(a.category_id) : undefined
    if (label === undefined) reasons.push(`unknown category_id ${JSON.stringify(a?.category_id)}`)
    const bbox = a?.bbox
    const bboxOk = Array.isArray(bbox) && bbox.length === 4 && bbox.every(isNum)
    if (!bboxOk) reasons.push(`bbox ${JSON.stringify(bbox)} is not four numbers`)
    else if ((bbox[2] as number) <= 0 || (bbox[3] as number) <= 0)
      reasons.push(`bbox ${JSON.stringify(bbox)} has a non-positive width or height`)
    if (reasons.length > 0) {
      problems.push({
        file: source,
        reason: `annotation ${JSON.stringify(id)}: ${reasons.join('; ')}; skipped`,
      })
      continue
    }
    const attributes = cocoAttributes(a.attributes)
    const box = {
      box: cocoToBox(bbox as number[]),
      label: label as string,
      ...(isNum(a.score) ? { score: a.score } : {}),
      ...(attributes ? { attributes } : {}),
    }
    image!.boxes.push(box)
    used.add(label as string)
  }
  if (reused.length > 0)
    problems.push({
      file: source,
      reason: `annotation ids are not unique: ${reused.length} annotation(s) reuse an id (first: ${reused[0]}); every one was read`,
    })
  // Roboflow writes its dataset's name as a category (id 0) that is only the supercategory of the
  // real ones: a class nobody uses and that holds others is not a class.
  const parents = new Set(
    (d.categories as { supercategory?: unknown; name?: unknown }[])
      .filter((c) => typeof c?.supercategory === 'string' && c.supercategory !== c.name)
      .map((c) => (c.supercategory as string).trim()),
  )
  const kept = classes.filter((c) => used.has(c) || !parents.has(c))
  return { classes: kept, images: [...images.values()], problems }
}

/** The box attributes of a COCO annotation's `attributes` (CVAT writes `occluded` there). */
function cocoAttributes(v: unknown): BoxAttributes | undefined {
  if (typeof v !== 'object' || v === null) return undefined
  const o = v as Record<string, unknown>
  return boxAttributes(
    (flag) => o[flag] === true || o[flag] === 1 || o[flag] === '1' || o[flag] === 'true',
    typeof o.pose === 'string' ? o.pose : '',
  )
}
