/**
 * Exporting a project's reviewed boxes (and, when asked, its pending proposals) to COCO, Pascal
 * VOC or YOLO. Every export is atomic: a COCO file via a temporary file and rename, a VOC/YOLO
 * folder via a temporary sibling folder and rename; an existing export is kept unless `overwrite`.
 *
 * Layouts. VOC and YOLO carry their images by default (copy-on-write clones where the file system
 * offers them, copies otherwise; hard links only when asked, `link`; the project's files are never
 * modified by the export), so the folder trains as it is:
 * - COCO: one JSON file, `file_name` relative to the project's image root.
 * - VOC: `JPEGImages/<name>`, `Annotations/<name without extension>.xml` (sub-folders kept, as
 *   CVAT does), `ImageSets/Main/{trainval,train,val}.txt` listing those ids, `labels.txt`.
 * - YOLO: `images/<split>/<name>` and `labels/<split>/<name without extension>.txt` — the path
 *   Ultralytics derives from the image's by swapping `/images/` for `/labels/` — and `data.yaml`
 *   (`path` = the export folder, `train`/`val` = the image folders, `names`), `classes.txt`.
 *   Without a split: `images/`, `labels/`, and train = val = `images`.
 * With `images: false` (CLI `--no-images`), annotations only: VOC without `JPEGImages/`; YOLO
 * `labels/<image path without extension>.txt` with `train.txt`/`val.txt` listing the absolute
 * image paths. `<name>` is the image's path relative to the root unless exportNames renames it.
 */
import { realpathSync } from 'node:fs'
import path from 'node:path'
import { clipBox } from '../../shared/box.ts'
import { CamlabelError, toErrorData } from '../../shared/errors.ts'
import { writeCoco } from '../formats/coco.ts'
import { copyInto, writeDirAtomic, writeFileInto } from '../formats/atomicWrite.ts'
import type { Dataset, DatasetImage } from '../formats/dataset.ts'
import { exportNames, exportStem } from '../formats/exportNames.ts'
import { toVocXml } from '../formats/voc.ts'
import { seededSplit, toDataYaml, toYoloLabels } from '../formats/yolo.ts'
import type { ProjectStore } from '../store/projectStore.ts'
import { EXPORT_MARKER, exportMarker, notAnExport } from './exportTarget.ts'
import { checkImages } from './imageFiles.ts'

/** Options of exportProject (the contracts' export.run input, plus `images`). */
export interface ExportOptions {
  format: 'coco' | 'voc' | 'yolo'
  /** A .json file for COCO, a folder for VOC and YOLO. */
  outPath: string
  includeProposals?: boolean
  overwrite?: boolean
  /** Fraction of images for validation (YOLO and VOC ImageSets), by a seeded shuffle. */
  valFraction?: number
  seed?: number
  /** VOC and YOLO: put the images in the export (default true); false writes annotations only. */
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
  format: ExportOptions['format'],
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
  if (format !== 'coco' && within(out, root))
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
 * Writes a dataset in one format (the part that does not need a store).
 * @throws CamlabelError INVALID_ARGUMENT (see checkExportPath), ALREADY_EXISTS, DISK_FULL
 */
export async function exportDataset(
  dataset: Dataset,
  source: ExportSource,
  options: ExportOptions,
): Promise<ExportResult> {
  const { imageRoot, projectFile, sourceOf } = source
  const out = path.resolve(options.outPath)
  checkExportPath(out, options.format, imageRoot, projectFile)
  const countBoxes = (ims: readonly DatasetImage[]) => ims.reduce((n, im) => n + im.boxes.length, 0)
  const result: ExportResult = {
    outPath: out,
    images: dataset.images.length,
    boxes: countBoxes(dataset.images),
    files: 0,
  }
  const frac = options.valFraction ?? 0
  if (!(frac >= 0 && frac < 1))
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `the validation fraction must be in [0, 1), got ${frac}`,
    )
  const atomic = {
    overwrite: options.overwrite ?? false,
    notReplaceable: (dest: string) => notAnExport(options.format, dest),
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
        { avoidImagesFolder: options.format === 'yolo' },
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

  if (options.format === 'voc') {
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
        const ids = (which?: Placed['split']) =>
          placed
            .filter((p) => which === undefined || p.split === which)
            .map((p) => exportStem(p.name) + '\n')
            .join('')
        await writeFileInto(path.join(tmp, 'ImageSets/Main/trainval.txt'), ids())
        await writeFileInto(path.join(tmp, 'ImageSets/Main/train.txt'), ids('train'))
        await writeFileInto(path.join(tmp, 'ImageSets/Main/val.txt'), ids('val'))
        await writeFileInto(path.join(tmp, 'labels.txt'), dataset.classes.join('\n') + '\n')
        await writeFileInto(path.join(tmp, EXPORT_MARKER), exportMarker('voc'))
        files = placed.length * (withImages ? 2 : 1) + 4
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
      if (withImages) {
        // Without a split every image is in 'train' and the folders have no split level.
        const sub = (p: Placed) => (frac > 0 ? `${p.split}/${p.name}` : p.name)
        placed = place(
          await placeImages(placed, sourceOf, (p) => into(tmp, `images/${sub(p)}`), link),
        )
        for (const p of placed)
          await writeFileInto(into(tmp, `labels/${exportStem(sub(p))}.txt`), labelsOf(p.image))
        const hasVal = frac > 0 && placed.some((p) => p.split === 'val')
        const train = frac > 0 ? 'images/train' : 'images'
        await writeFileInto(
          path.join(tmp, 'data.yaml'),
          toDataYaml(dataset.classes, { train, val: hasVal ? 'images/val' : train }, out),
        )
        files = placed.length * 2 + 2
      } else {
        for (const p of placed)
          await writeFileInto(into(tmp, `labels/${exportStem(p.name)}.txt`), labelsOf(p.image))
        const list = (which: Placed['split']) =>
          placed
            .filter((p) => p.split === which)
            .map((p) => sourceOf(p.image) + '\n')
            .join('')
        await writeFileInto(path.join(tmp, 'train.txt'), list('train'))
        if (frac > 0) await writeFileInto(path.join(tmp, 'val.txt'), list('val'))
        await writeFileInto(
          path.join(tmp, 'data.yaml'),
          toDataYaml(
            dataset.classes,
            { train: 'train.txt', val: frac > 0 ? 'val.txt' : undefined },
            out,
          ),
        )
        files = placed.length + (frac > 0 ? 4 : 3)
      }
      await writeFileInto(path.join(tmp, 'classes.txt'), dataset.classes.join('\n') + '\n')
      await writeFileInto(path.join(tmp, EXPORT_MARKER), exportMarker('yolo'))
    },
    atomic,
  )
  return finish(files)
}

/**
 * Exports a project: reviewed boxes (accepted, edited, manual), plus pending proposals with scores
 * when asked. Every image goes through the path check first (imageFiles.ts): one that cannot be
 * read is left out and reported; one changed on disk since its import is written with its current
 * size, its boxes clipped to it, and reported.
 */
export async function exportProject(
  store: ProjectStore,
  options: ExportOptions,
): Promise<ExportResult> {
  const dataset = store.review.dataset({ withProposals: options.includeProposals })
  const rows = store.images.all()
  const check = await checkImages(store, rows, { update: false })
  const idOf = new Map(rows.map((r) => [r.file, r.id]))
  const failed = new Map(check.failed.map((f) => [f.id, f]))
  const changed = new Map(check.changed.map((c) => [c.id, c]))
  const problems: { file: string; message: string }[] = []
  const images: DatasetImage[] = []
  for (const im of dataset.images) {
    const id = idOf.get(im.file)!
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
  const real = new Map(rows.map((r) => [r.file, check.paths.get(r.id)!]))
  const r = await exportDataset(
    { ...dataset, images },
    { imageRoot: store.imageRoot, sourceOf: (im) => real.get(im.file)!, projectFile: store.file },
    options,
  )
  return problems.length ? { ...r, problems: [...problems, ...(r.problems ?? [])] } : r
}
