/**
 * What the tools people take camlabel's exports to read from them, written down from their
 * source — each function cites the file it follows — so a test can assert that an export loads
 * there, with the boxes it should: the 217 raccoon boxes, once each, with their class. These run
 * the consumers' rules, not the consumers (pycocotools, datumaro, Ultralytics and Label Studio's
 * converter are Python, off the npm registry); each rule that refuses a file throws as they do.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import yauzl from 'yauzl'

/** A box as a consumer loads it: its image, class name and [x, y, w, h] in pixels. */
export interface Loaded {
  image: string
  label: string
  bbox: [number, number, number, number]
  attributes?: Record<string, unknown>
}

const isInt = (v: unknown) => typeof v === 'number' && Number.isInteger(v)

/**
 * datumaro's COCO instances reader, as CVAT's "COCO 1.0" import runs it
 * (openvinotoolkit/datumaro, src/datumaro/plugins/data_formats/coco/base.py, _CocoBase):
 * `_parse_field` raises MissingFieldError / InvalidFieldTypeError for `images[].id` (int),
 * `file_name` (str), `categories[].id` (int) and `name` (str), and for every annotation's `id`,
 * `image_id`, `category_id`, `iscrowd` (int), `segmentation` (list or dict) and `bbox` (list, 4
 * values); category id 0 is "no class" (label None); an unknown category id is UndeclaredLabelError.
 * `imagesDir` given: each image must exist at `<images dir>/<file_name>`.
 */
export function datumaroCoco(json: unknown, imagesDir?: (file: string) => boolean): Loaded[] {
  const d = json as Record<string, unknown>
  const need = (o: Record<string, unknown>, key: string, ok: (v: unknown) => boolean) => {
    if (!(key in o)) throw new Error(`MissingFieldError: ${key}`)
    if (!ok(o[key])) throw new Error(`InvalidFieldTypeError: ${key}`)
    return o[key]
  }
  const cats = new Map<number, string>()
  for (const c of need(d, 'categories', Array.isArray) as Record<string, unknown>[])
    cats.set(
      need(c, 'id', isInt) as number,
      need(c, 'name', (v) => typeof v === 'string') as string,
    )
  const images = new Map<number, string>()
  for (const im of need(d, 'images', Array.isArray) as Record<string, unknown>[]) {
    const id = need(im, 'id', isInt) as number
    const file = need(im, 'file_name', (v) => typeof v === 'string') as string
    if (im.width !== undefined) need(im, 'width', isInt)
    if (im.height !== undefined) need(im, 'height', isInt)
    if (imagesDir && !imagesDir(file)) throw new Error(`image not found: ${file}`)
    images.set(id, file)
  }
  const out: Loaded[] = []
  for (const a of need(d, 'annotations', Array.isArray) as Record<string, unknown>[]) {
    need(a, 'id', isInt)
    const image = images.get(need(a, 'image_id', isInt) as number)
    if (image === undefined) continue // "Unknown image id": skipped with a warning
    const cat = need(a, 'category_id', isInt) as number
    if (cat === 0) throw new Error('category id 0 is no class: the box would have no label')
    const label = cats.get(cat)
    if (label === undefined) throw new Error(`UndeclaredLabelError: ${cat}`)
    need(a, 'iscrowd', isInt)
    need(a, 'segmentation', (v) => Array.isArray(v) || (typeof v === 'object' && v !== null))
    const bbox = need(a, 'bbox', Array.isArray) as number[]
    if (bbox.length !== 4) throw new Error('Bbox has wrong value count')
    out.push({
      image,
      label,
      bbox: bbox as Loaded['bbox'],
      ...(a.attributes ? { attributes: a.attributes as Record<string, unknown> } : {}),
    })
  }
  return out
}

/**
 * Where datumaro finds a COCO archive's parts (coco/base.py, DirPathExtracter and _CocoBase):
 * the JSON must lie in a folder named `annotations` (else DatasetImportError), its subset is the
 * name after `instances_`, and images are under `images/<subset>/` when that folder exists, else
 * `images/`.
 */
export function datumaroCocoLayout(entries: ReadonlySet<string>): {
  json: string
  subset: string
  imagesDir: string
} {
  const jsons = [...entries].filter((e) => /^annotations\/instances_[^/]+\.json$/.test(e))
  if (jsons.length !== 1) throw new Error(`expected one annotations/instances_*.json, got ${jsons}`)
  const subset = jsons[0]!.slice('annotations/instances_'.length, -'.json'.length)
  const hasSubsetDir = [...entries].some((e) => e.startsWith(`images/${subset}/`))
  return { json: jsons[0]!, subset, imagesDir: hasSubsetDir ? `images/${subset}` : 'images' }
}

/**
 * pycocotools' `COCO.loadRes` (cocodataset/cocoapi, PythonAPI/pycocotools/coco.py): the file is
 * a list ("results in not an array of objects"), every result's image id is one of the ground
 * truth's ("Results do not correspond to current coco set"); for box results each has `bbox`
 * (its area and id are then set); COCOeval sorts detections by `score`, which each must have.
 */
export function pycocotoolsLoadRes(
  gt: { images: { id: number }[]; categories: { id: number }[] },
  res: unknown,
): { image_id: number; category_id: number; bbox: number[]; score: number }[] {
  if (!Array.isArray(res)) throw new Error('AssertionError: results in not an array of objects')
  const ids = new Set(gt.images.map((i) => i.id))
  const cats = new Set(gt.categories.map((c) => c.id))
  for (const r of res as Record<string, unknown>[]) {
    if (!ids.has(r.image_id as number))
      throw new Error('AssertionError: Results do not correspond to current coco set')
    if (!cats.has(r.category_id as number)) throw new Error(`unknown category ${r.category_id}`)
    if (!Array.isArray(r.bbox) || r.bbox.length !== 4) throw new Error('bbox is not [x, y, w, h]')
    if (typeof r.score !== 'number') throw new Error('KeyError: score')
  }
  return res as ReturnType<typeof pycocotoolsLoadRes>
}

/**
 * datumaro's Pascal VOC reader, as CVAT's "PASCAL VOC 1.1" import runs it
 * (openvinotoolkit/datumaro, src/datumaro/plugins/data_formats/voc/base.py and format.py):
 * every `ImageSets/Main/*.txt` is a subset of its own and each line an item, so an image listed in
 * two lists is imported twice; classes come from `labelmap.txt` (lines of 4 ':'-separated fields,
 * `parse_label_map`), else only VOC's 20 classes are known and any other name is
 * UndeclaredLabelError; `difficult`, `truncated`, `occluded` must be "0" or "1"
 * (`_parse_bool_field`, InvalidFieldError); `<filename>` is joined with JPEGImages/.
 */
export function datumaroVoc(dir: string): { items: number; boxes: Loaded[] } {
  const labelmapFile = path.join(dir, 'labelmap.txt')
  const VOC20 = ['background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car']
  const labels = new Set<string>(VOC20)
  if (existsSync(labelmapFile)) {
    labels.clear()
    for (const raw of readFileSync(labelmapFile, 'utf8').split('\n')) {
      const line = raw.trim()
      if (!line || line.startsWith('#')) continue
      const fields = line.split(':')
      if (fields.length !== 4)
        throw new Error(`Label description has wrong number of fields '${fields.length}'`)
      if (labels.has(fields[0]!)) throw new Error(`Label '${fields[0]}' is already defined`)
      labels.add(fields[0]!)
    }
  }
  const main = path.join(dir, 'ImageSets/Main')
  let items = 0
  const boxes: Loaded[] = []
  for (const list of readdirSync(main).filter((f) => f.endsWith('.txt'))) {
    for (const raw of readFileSync(path.join(main, list), 'utf8').split('\n')) {
      const id = raw.trim()
      if (!id || id.startsWith('#')) continue
      items++
      const xml = readFileSync(path.join(dir, 'Annotations', `${id}.xml`), 'utf8')
      const filename = /<filename>([^<]*)<\/filename>/.exec(xml)?.[1]
      if (filename && !existsSync(path.join(dir, 'JPEGImages', unescape(filename))))
        throw new Error(`image not found: ${filename}`)
      for (const obj of xml.split('<object>').slice(1)) {
        const tag = (t: string) => new RegExp(`<${t}>([^<]*)</${t}>`).exec(obj)?.[1]
        const name = unescape(tag('name') ?? '')
        if (!labels.has(name)) throw new Error(`UndeclaredLabelError: ${name}`)
        const attributes: Record<string, unknown> = {}
        for (const key of ['difficult', 'truncated', 'occluded']) {
          const v = tag(key)
          if (v === undefined) continue
          if (v !== '0' && v !== '1') throw new Error(`InvalidFieldError: ${key}`)
          attributes[key] = v === '1'
        }
        if (tag('pose') !== undefined) attributes.pose = tag('pose')
        const [xmin, ymin, xmax, ymax] = ['xmin', 'ymin', 'xmax', 'ymax'].map((t) =>
          Number(tag(t)),
        ) as [number, number, number, number]
        boxes.push({
          image: id,
          label: name,
          bbox: [xmin, ymin, xmax - xmin, ymax - ymin],
          attributes,
        })
      }
    }
  }
  return { items, boxes }
}

function unescape(s: string): string {
  return s
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&')
}

/** Ultralytics' label path of an image (ultralytics/data/utils.py, img2label_paths). */
export function img2labelPath(image: string): string {
  const sa = `${path.sep}images${path.sep}`
  const sb = `${path.sep}labels${path.sep}`
  const at = image.lastIndexOf(sa)
  const swapped = at < 0 ? image : image.slice(0, at) + sb + image.slice(at + sa.length)
  return swapped.slice(0, swapped.lastIndexOf('.')) + '.txt'
}

const IMG_FORMATS = new Set(['bmp', 'dng', 'jpeg', 'jpg', 'mpo', 'png', 'tif', 'tiff', 'webp'])

function imagesUnder(p: string): string[] {
  if (statSync(p).isFile())
    return readFileSync(p, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => path.resolve(path.dirname(p), l))
  return readdirSync(p, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && IMG_FORMATS.has(e.name.split('.').pop()!.toLowerCase()))
    .map((e) => path.join(e.parentPath, e.name))
}

/**
 * Ultralytics' dataset check and label reading (ultralytics/data/utils.py): check_det_dataset
 * needs `train` and `val` ("'train' and 'val' are required in all data YAMLs") and `names` or
 * `nc`; the root is `path` — absolute, or relative to the working directory when that exists, or
 * to its datasets folder — else data.yaml's own folder; `val` must exist ("images not found");
 * each image's label file is img2label_paths of it, lines of 5 columns, coordinates ≤ 1.01.
 * `cwd` stands for the directory training is started from.
 */
export function ultralyticsDataset(
  yamlFile: string,
  cwd: string,
): { names: string[]; train: Loaded[]; val: Loaded[] } {
  const data = parseYaml(readFileSync(yamlFile, 'utf8')) as Record<string, unknown>
  for (const k of ['train', 'val'])
    if (!(k in data)) throw new Error(`SyntaxError: '${k}:' key missing`)
  const names = Array.isArray(data.names)
    ? (data.names as string[])
    : Object.values(data.names as Record<string, string>)
  let root = typeof data.path === 'string' && data.path ? data.path : path.dirname(yamlFile)
  if (!path.isAbsolute(root)) {
    const fromCwd = path.resolve(cwd, root)
    root = existsSync(fromCwd) ? fromCwd : path.resolve('/nonexistent/datasets', root)
  }
  const split = (key: 'train' | 'val'): Loaded[] => {
    const p = path.resolve(root, data[key] as string)
    if (!existsSync(p)) throw new Error(`FileNotFoundError: images not found, missing path '${p}'`)
    return imagesUnder(p).flatMap((im) => {
      const label = img2labelPath(im)
      if (!existsSync(label)) return []
      return readFileSync(label, 'utf8')
        .split('\n')
        .filter((l) => l.trim())
        .map((l) => {
          const f = l.trim().split(/\s+/).map(Number)
          if (f.length !== 5)
            throw new Error(`labels require 5 columns, ${f.length} columns detected`)
          if (Math.max(...f.slice(1)) > 1.01)
            throw new Error('non-normalized or out of bounds coordinates')
          if (f[0]! >= names.length)
            throw new Error(`Label class ${f[0]} exceeds dataset class count`)
          return { image: im, label: names[f[0]!]!, bbox: f.slice(1) as Loaded['bbox'] }
        })
    })
  }
  return { names, train: split('train'), val: split('val') }
}

/**
 * The subsets CVAT's "Ultralytics YOLO Detection 1.0" import takes from data.yaml (cvat-ai's
 * datumaro, plugins/data_formats/yolo: YoloPath.RESERVED_CONFIG_KEYS = backup, classes, names;
 * path and download are read as settings, not subsets; allowed subset names train, val, valid,
 * test): every other key is a subset, so `nc: 1` is taken for a subset named "nc".
 */
export function cvatYoloSubsets(yamlFile: string): Record<string, string> {
  const data = parseYaml(readFileSync(yamlFile, 'utf8')) as Record<string, unknown>
  const reserved = new Set(['backup', 'classes', 'names', 'path', 'download'])
  const allowed = new Set(['train', 'val', 'valid', 'test'])
  const subsets: Record<string, string> = {}
  for (const [k, v] of Object.entries(data)) {
    if (reserved.has(k)) continue
    if (!allowed.has(k)) throw new Error(`Unexpected subset name '${k}'`)
    subsets[k] = String(v)
  }
  return subsets
}

/**
 * Label Studio's YOLO import (HumanSignal/label-studio-sdk,
 * src/label_studio_sdk/converter/imports/yolo.py, convert_yolo_to_ls): classes from
 * `<dir>/classes.txt`, one per line by index; images are the files of `<dir>/images` listed
 * flat (os.listdir: no recursion) ending in .jpg/.jpeg/.png; each one's boxes from
 * `<dir>/labels/<stem>.txt`; "No labels converted" when there are no tasks.
 */
export function labelStudioYolo(dir: string): { tasks: number; boxes: Loaded[] } {
  const lines = readFileSync(path.join(dir, 'classes.txt'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
  const boxes: Loaded[] = []
  let tasks = 0
  for (const f of readdirSync(path.join(dir, 'images'))) {
    if (!['.jpg', '.jpeg', '.png'].some((e) => f.endsWith(e))) continue
    tasks++
    const label = path.join(dir, 'labels', f.slice(0, f.lastIndexOf('.')) + '.txt')
    if (!existsSync(label)) continue
    for (const l of readFileSync(label, 'utf8')
      .split('\n')
      .filter((x) => x.trim())) {
      const [cls, x, y, w, h] = l.split(/\s+/).map(Number) as number[]
      boxes.push({ image: f, label: lines[cls!]!, bbox: [x!, y!, w!, h!] })
    }
  }
  if (tasks === 0) throw new Error('No labels converted')
  return { tasks, boxes }
}

/** The entries of a zip archive, name → bytes (yauzl, the reader of yazl's archives). */
export async function readZip(file: string): Promise<Map<string, Buffer>> {
  const zip = await yauzl.openPromise(file, { lazyEntries: true })
  const out = new Map<string, Buffer>()
  await new Promise<void>((resolve, reject) => {
    zip.on('entry', (entry: yauzl.Entry) => {
      void (async () => {
        if (!entry.fileName.endsWith('/')) {
          const chunks: Buffer[] = []
          for await (const c of await zip.openReadStreamPromise(entry)) chunks.push(c as Buffer)
          out.set(entry.fileName, Buffer.concat(chunks))
        }
        zip.readEntry()
      })().catch(reject)
    })
    zip.on('end', () => resolve())
    zip.on('error', reject)
    zip.readEntry()
  })
  zip.close()
  return out
}
