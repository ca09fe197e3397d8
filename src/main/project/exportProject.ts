/**
 * Exporting a project to the formats other tools read as they are. Only reviewed images (see
 * ReviewRepo.isReviewed) by default: an image nobody looked at is not a negative, so including it
 * is a named choice (`includeUnreviewed`); pending proposals are another (`includeProposals`).
 * Every export is atomic: a file via a temporary file and rename, a folder via a temporary sibling
 * folder and rename; an existing export is kept unless `overwrite` (and then only an earlier
 * camlabel export of the same format is replaced, see exportTarget.ts).
 *
 * Layouts (README, "Exchange with other tools", says which tool reads which):
 * - COCO: one JSON file, `file_name` relative to the project's image root; with `archive`, one
 *   .zip holding `annotations/instances_default.json` and `images/<file_name>` (CVAT's and
 *   datumaro's COCO layout).
 * - COCO results: the detections array pycocotools' `loadRes` takes, image and category ids as in
 *   the project's COCO export.
 * - VOC: `JPEGImages/<name>`, `Annotations/<stem>.xml` (sub-folders kept, as CVAT does),
 *   `ImageSets/Main/train.txt` and `val.txt` with a split, else `trainval.txt` alone (each list
 *   is a subset to CVAT: a union beside its parts would import every image twice), and
 *   `labelmap.txt`.
 * - YOLO: `images/<split>/<name>`, `labels/<split>/<stem>.txt` — the path Ultralytics derives
 *   from the image's by swapping `/images/` for `/labels/` — and `data.yaml` (`train`, `val`,
 *   `names`; a validation split by default, DEFAULT_YOLO_SPLIT), `classes.txt`. With `layout:
 *   'flat'`, Label Studio's layout: `images/<name>`, `labels/<stem>.txt`, `classes.txt`.
 * VOC and YOLO carry their images (copy-on-write clones where the file system offers them, copies
 * otherwise; hard links only when asked, `link`; the project's files are never modified). VOC can
 * leave them out (`images: false`); YOLO cannot, since its tools find a label only from its
 * image's path. `<name>` is the image's path relative to the root unless exportNames renames it.
 */
import { realpathSync } from 'node:fs'
import path from 'node:path'
import { clipBox } from '../../shared/box.ts'
import { exportFormatSchema, type ExportFormatName } from '../../shared/contracts/exports.ts'
import { CamlabelError, toErrorData } from '../../shared/errors.ts'
import { toCoco, toCocoResults, writeCoco } from '../formats/coco.ts'
import {
  copyInto,
  writeDirAtomic,
  writeFileAtomic,
  writeFileAtomicWith,
  writeFileInto,
} from '../formats/atomicWrite.ts'
import type { Dataset, DatasetImage } from '../formats/dataset.ts'
import { exportNames, exportStem } from '../formats/exportNames.ts'
import { toVocLabelmap, toVocXml } from '../formats/voc.ts'
import { seededSplit, toDataYaml, toYoloLabels } from '../formats/yolo.ts'
import { writeZip, type ZipEntry } from '../formats/zipArchive.ts'
import type { ProjectStore } from '../store/projectStore.ts'
import { ARCHIVE_COMMENT, EXPORT_MARKER, exportMarker, notAnExport } from './exportTarget.ts'
import { checkImages } from './imageFiles.ts'

/** The formats an export writes (the export route's contract is their one list). */
export const EXPORT_FORMATS = exportFormatSchema.options
export type ExportFormat = ExportFormatName

/**
 * The validation fraction of a YOLO export when none is given: Ultralytics refuses a data.yaml
 * without `val`, and pointing `val` at the training images makes CVAT import every image twice.
 */
export const DEFAULT_YOLO_SPLIT = 0.2

/** Options of exportProject (the contracts' export.run input, plus `images` and `link`). */
export interface ExportOptions {
  format: ExportFormat
  /** A .json file for COCO (a .zip with `archive`), a folder for VOC and YOLO. */
  outPath: string
  /** Also pending proposals, with their score, and the images that have them. */
  includeProposals?: boolean
  /** Also images not reviewed yet, as negatives (with what boxes they have). */
  includeUnreviewed?: boolean
  overwrite?: boolean
  /**
   * Fraction of images for validation (YOLO and VOC ImageSets), by a seeded shuffle. Default 0,
   * and DEFAULT_YOLO_SPLIT for YOLO's Ultralytics layout.
   */
  valFraction?: number
  seed?: number
  /** COCO: one .zip with the JSON and the images, as CVAT and Label Studio import it. */
  archive?: boolean
  /** YOLO: Ultralytics' split folders (default), or Label Studio's flat `images/` + `labels/`. */
  layout?: 'ultralytics' | 'flat'
  /** VOC: put the images in the export (default true); false writes annotations only. */
  images?: boolean
  /**
   * Hard-link the images into the export where the file system allows (default false: a
   * copy-on-write clone where possible, else a copy). A hard link is the project's own file:
   * editing the exported image in place changes the project's.
   */
  link?: boolean
}

/** What an export wrote. */
export interface ExportResult {
  outPath: string
  images: number
  boxes: number
  files: number
  /** Images hard-linked into the export (VOC/YOLO with images, `link` asked). */
  linked?: number
  /** Images copied into the export, clones included. */
  copied?: number
  /** Of `copied`, those cloned copy-on-write (no extra space; still files of their own). */
  cloned?: number
  /** Images left out of the export (their file could not be read), with the reason. */
  problems?: { file: string; message: string }[]
  /** Images not reviewed yet, and whether the export holds them (unreviewed, with proposals). */
  unreviewed?: { images: number; included: number }
}

/** Where one image of a folder export goes. */
interface Placed {
  image: DatasetImage
  /** Path inside the images folder (posix), see exportNames. */
  name: string
  split: 'train' | 'val'
}

/** What placeImages did. */
interface Placement {
  kept: Placed[]
  linked: number
  copied: number
  cloned: number
  problems: { file: string; message: string }[]
}

/**
 * Links or copies every image to `dest(p)`. Images whose source cannot be read are reported and
 * left out of `kept`, so no annotation points at a missing file. A full disk stops the export.
 */
async function placeImages(
  placed: Placed[],
  sourceOf: (image: DatasetImage) => string,
  dest: (p: Placed) => string,
  link: boolean,
): Promise<Placement> {
  const out: Placement = { kept: [], linked: 0, copied: 0, cloned: 0, problems: [] }
  for (const p of placed) {
    const src = sourceOf(p.image)
    try {
      const how = await copyInto(src, dest(p), { link })
      if (how === 'linked') out.linked++
      else out.copied++
      if (how === 'cloned') out.cloned++
      out.kept.push(p)
    } catch (err) {
      const e = err as NodeJS.ErrnoException
      if (e.code === 'ENOSPC' || e.code === 'EDQUOT') throw err
      const why = e.code === 'ENOENT' ? 'the image file is missing' : toErrorData(err).message
      out.problems.push({ file: p.image.file, message: `${why}; left out of the export` })
    }
  }
  return out
}

/**
 * `p` with symbolic links resolved as far as it exists (the rest appended), so two spellings of
 * one folder compare equal.
 */
function realish(p: string): string {
  const abs = path.resolve(p)
  try {
    return realpathSync(abs)
  } catch {
    const parent = path.dirname(abs)
    return parent === abs ? abs : path.join(realish(parent), path.basename(abs))
  }
}

/** `child` is `parent` or inside it. */
function within(child: string, parent: string): boolean {
  const r = path.relative(parent, child)
  return r === '' || (!r.startsWith('..' + path.sep) && r !== '..' && !path.isAbsolute(r))
}

/**
 * Refuses an export path that an export (with `--overwrite`, which moves the old folder aside and
 * deletes it) would destroy or pollute: the project file itself, a folder that holds the project
 * file or the images, or — for folder formats — a folder inside the image root (the new folder
 * would become part of the project's images).
 * @throws CamlabelError INVALID_ARGUMENT
 */
export function checkExportPath(
  outPath: string,
  format: ExportFormat,
  imageRoot: string,
  projectFile?: string,
): void {
  const out = realish(outPath)
  const root = realish(imageRoot)
  const hint = 'Choose an --out outside the image folder and away from the .camlabel file.'
  const refuse = (why: string) =>
    new CamlabelError('INVALID_ARGUMENT', `Refusing to export to ${out}: ${why}`, hint)
  if (projectFile !== undefined) {
    const project = realish(projectFile)
    if (out === project || out === `${project}-wal` || out === `${project}-shm`)
      throw refuse('it is the project file')
    if (within(project, out)) throw refuse(`it holds the project file ${project}`)
  }
  if (within(root, out))
    throw refuse(
      out === root ? 'it is the image folder' : `it holds the project's image folder ${root}`,
    )
  if ((format === 'voc' || format === 'yolo') && within(out, root))
    throw refuse(`it is inside the project's image folder ${root}`)
}

/** Where an export reads its images and what it must not overwrite. */
export interface ExportSource {
  imageRoot: string
  /** The file to copy for an image (a checked real path, see imageFiles.ts). */
  sourceOf: (image: DatasetImage) => string
  /** The project the dataset comes from, so the export cannot replace it. */
  projectFile?: string
}

/**
 * Refuses option combinations that would write something its tools cannot read, saying what to do.
 * @throws CamlabelError INVALID_ARGUMENT
 */
function checkOptions(o: ExportOptions): void {
  const refuse = (message: string, hint?: string) =>
    new CamlabelError('INVALID_ARGUMENT', message, hint)
  const frac = o.valFraction ?? 0
  if (!(frac >= 0 && frac < 1))
    throw refuse(`the validation fraction must be in [0, 1), got ${frac}`)
  if (o.archive && o.format !== 'coco')
    throw refuse('Only a COCO export is written as one archive (.zip)')
  if (o.archive && !o.outPath.toLowerCase().endsWith('.zip'))
    throw refuse(`A COCO archive is a .zip file; ${o.outPath} does not end in .zip`)
  if (o.layout === 'flat' && o.format !== 'yolo')
    throw refuse('The flat layout is a YOLO layout (Label Studio)')
  if (o.layout === 'flat' && frac > 0)
    throw refuse(
      "Label Studio's YOLO import reads one flat images/ folder, so a validation split would be lost",
      'Export without a split, or in the Ultralytics layout.',
    )
  if (o.format === 'yolo' && o.images === false)
    throw refuse(
      "A YOLO export needs its images: Ultralytics and Label Studio find each label file from its image's path (…/images/… → …/labels/…), and the project's images are not in such a folder",
      'Export with images (the default; hard links cost no space where the disk allows them).',
    )
}

/**
 * Writes a dataset in one format (the part that does not need a store).
 * @throws CamlabelError INVALID_ARGUMENT (see checkExportPath, checkOptions), ALREADY_EXISTS, DISK_FULL
 */
export async function exportDataset(
  dataset: Dataset,
  source: ExportSource,
  options: ExportOptions,
): Promise<ExportResult> {
  const { imageRoot, projectFile, sourceOf } = source
  const out = path.resolve(options.outPath)
  checkExportPath(out, options.format, imageRoot, projectFile)
  const layout = options.layout ?? 'ultralytics'
  const frac =
    options.valFraction ??
    (options.format === 'yolo' && layout === 'ultralytics' ? DEFAULT_YOLO_SPLIT : 0)
  checkOptions({ ...options, valFraction: frac })
  const countBoxes = (ims: readonly DatasetImage[]) => ims.reduce((n, im) => n + im.boxes.length, 0)
  const result: ExportResult = {
    outPath: out,
    images: dataset.images.length,
    boxes: countBoxes(dataset.images),
    files: 0,
  }
  const fileKind = options.format === 'coco' && options.archive ? 'coco-zip' : options.format
  const atomic = {
    overwrite: options.overwrite ?? false,
    notReplaceable: (dest: string) => notAnExport(fileKind, dest),
  }
  if (options.format === 'coco-results') {
    await writeFileAtomic(out, JSON.stringify(toCocoResults(dataset)) + '\n', atomic)
    return { ...result, files: 1 }
  }
  if (options.format === 'coco' && options.archive) {
    // The JSON's file_name is the path under images/, which is where datumaro looks for it.
    const json = toCoco(dataset, { description: 'camlabel export' })
    const entries = function* (): Generator<ZipEntry> {
      yield { name: 'annotations/instances_default.json', text: JSON.stringify(json) + '\n' }
      for (const im of dataset.images) yield { name: `images/${im.file}`, file: sourceOf(im) }
    }
    await writeFileAtomicWith(out, (tmp) => writeZip(tmp, entries(), ARCHIVE_COMMENT), atomic)
    return { ...result, files: dataset.images.length + 1 }
  }
  if (options.format === 'coco') {
    await writeCoco(dataset, out, { ...atomic, description: 'camlabel export' })
    return { ...result, files: 1 }
  }
  const split = seededSplit(dataset.images.length, frac, options.seed ?? 1)
  const inVal = new Set(split.val)
  const withImages = options.images ?? true
  const link = options.link ?? false
  const names = withImages
    ? exportNames(
        dataset.images.map((im) => im.file),
        { avoidImagesFolder: options.format === 'yolo', flat: layout === 'flat' },
      )
    : dataset.images.map((im) => im.file)
  let placed: Placed[] = dataset.images.map((image, i) => ({
    image,
    name: names[i],
    split: inVal.has(i) ? 'val' : 'train',
  }))
  // Every file an export writes is inside its own temporary folder, whatever a name holds.
  const into = (root: string, rel: string) => {
    const file = path.join(root, ...rel.split('/'))
    if (!within(file, root) || file === root)
      throw new CamlabelError('INTERNAL', `An export name leaves the export folder: ${rel}`)
    return file
  }
  const place = (r: Placement): Placed[] => {
    Object.assign(result, {
      linked: r.linked,
      copied: r.copied,
      cloned: r.cloned,
      problems: r.problems,
    })
    return r.kept
  }
  const finish = (files: number): ExportResult => {
    const images = placed.map((p) => p.image)
    return { ...result, images: images.length, boxes: countBoxes(images), files }
  }
  const ids = (which?: Placed['split']) =>
    placed
      .filter((p) => which === undefined || p.split === which)
      .map((p) => exportStem(p.name) + '\n')
      .join('')

  if (options.format === 'voc') {
    const labelmap = toVocLabelmap(dataset.classes)
    let files = 0
    await writeDirAtomic(
      out,
      async (tmp) => {
        if (withImages) {
          placed = place(
            await placeImages(placed, sourceOf, (p) => into(tmp, `JPEGImages/${p.name}`), link),
          )
        }
        const folder = withImages ? 'JPEGImages' : path.basename(imageRoot)
        for (const p of placed) {
          await writeFileInto(
            into(tmp, `Annotations/${exportStem(p.name)}.xml`),
            toVocXml({ ...p.image, file: p.name }, folder),
          )
        }
        // Each list is a subset to CVAT and datumaro: the union only where nothing else lists them.
        const lists = frac > 0 ? (['train', 'val'] as const) : (['trainval'] as const)
        for (const list of lists)
          await writeFileInto(
            path.join(tmp, `ImageSets/Main/${list}.txt`),
            ids(list === 'trainval' ? undefined : list),
          )
        await writeFileInto(path.join(tmp, 'labelmap.txt'), labelmap)
        await writeFileInto(path.join(tmp, EXPORT_MARKER), exportMarker('voc'))
        files = placed.length * (withImages ? 2 : 1) + lists.length + 1
      },
      atomic,
    )
    return finish(files)
  }

  const classIndex = new Map(dataset.classes.map((c, i) => [c, i]))
  const labelsOf = (im: DatasetImage) => toYoloLabels(im.boxes, im.width, im.height, classIndex)
  let files = 0
  await writeDirAtomic(
    out,
    async (tmp) => {
      // Flat: images/<name>; Ultralytics: images/<split>/<name>, the split always a folder.
      const sub = (p: Placed) => (layout === 'flat' ? p.name : `${p.split}/${p.name}`)
      placed = place(
        await placeImages(placed, sourceOf, (p) => into(tmp, `images/${sub(p)}`), link),
      )
      for (const p of placed)
        await writeFileInto(into(tmp, `labels/${exportStem(sub(p))}.txt`), labelsOf(p.image))
      await writeFileInto(path.join(tmp, 'classes.txt'), dataset.classes.join('\n') + '\n')
      files = placed.length * 2 + 1
      if (layout === 'ultralytics') {
        const hasVal = placed.some((p) => p.split === 'val')
        await writeFileInto(
          path.join(tmp, 'data.yaml'),
          toDataYaml(dataset.classes, {
            train: 'images/train',
            ...(hasVal ? { val: 'images/val' } : {}),
          }),
        )
        files++
      }
      await writeFileInto(path.join(tmp, EXPORT_MARKER), exportMarker('yolo'))
    },
    atomic,
  )
  return finish(files)
}

/**
 * Exports a project: the reviewed images with their kept boxes (accepted, edited, drawn,
 * imported; a rejected box never), and when asked the unreviewed images and the pending
 * proposals. A results export writes every proposal with its score. Every image goes through the
 * path check first (imageFiles.ts): one that cannot be read is left out and reported; one changed
 * on disk since its import is written with its current size, its boxes clipped to it, and reported.
 */
export async function exportProject(
  store: ProjectStore,
  options: ExportOptions,
): Promise<ExportResult> {
  const reviewedIds = store.review.reviewedIds()
  const dataset =
    options.format === 'coco-results'
      ? store.review.detections()
      : store.review.dataset({
          withProposals: options.includeProposals,
          unreviewed: options.includeUnreviewed,
        })
  const rows = store.images.all()
  // A results file names images by id and reads none of them.
  const wanted = new Set(options.format === 'coco-results' ? [] : dataset.images.map((im) => im.id))
  const check = await checkImages(
    store,
    rows.filter((r) => wanted.has(r.id)),
    { update: false },
  )
  const failed = new Map(check.failed.map((f) => [f.id, f]))
  const changed = new Map(check.changed.map((c) => [c.id, c]))
  const problems: { file: string; message: string }[] = []
  const images: DatasetImage[] = []
  for (const im of dataset.images) {
    const id = im.id!
    const f = failed.get(id)
    if (f) {
      problems.push({ file: im.file, message: `${f.message}; left out of the export` })
      continue
    }
    const c = changed.get(id)
    if (!c) {
      images.push(im)
      continue
    }
    problems.push({
      file: im.file,
      message: `changed on disk since its import; written with its current size ${c.width}x${c.height} (check its boxes)`,
    })
    const boxes = im.boxes
      .map((b) => ({ ...b, box: clipBox(b.box, c.width, c.height) }))
      .filter((b) => b.box.x1 > b.box.x0 && b.box.y1 > b.box.y0)
    images.push({ ...im, width: c.width, height: c.height, boxes })
  }
  const real = new Map(rows.map((r) => [r.id, check.paths.get(r.id)]))
  const r = await exportDataset(
    { ...dataset, images },
    {
      imageRoot: store.imageRoot,
      sourceOf: (im) => real.get(im.id!)!,
      projectFile: store.file,
    },
    options,
  )
  const included =
    options.format !== 'coco-results' ? images.filter((im) => !reviewedIds.has(im.id!)).length : 0
  return {
    ...r,
    unreviewed: { images: rows.length - reviewedIds.size, included },
    ...(problems.length ? { problems: [...problems, ...(r.problems ?? [])] } : {}),
  }
}
