/**
 * Exporting a project's reviewed boxes (and, when asked, its pending proposals) to COCO, Pascal
 * VOC or YOLO. Every export is atomic: a COCO file via a temporary file and rename, a VOC/YOLO
 * folder via a temporary sibling folder and rename; an existing export is kept unless `overwrite`.
 *
 * Layouts (annotations only; the images stay where they are):
 * - COCO: one JSON file, `file_name` relative to the project's image root.
 * - VOC: `Annotations/<image path without extension>.xml` (sub-folders kept, as CVAT does),
 *   `ImageSets/Main/{trainval,train,val}.txt` listing those ids.
 * - YOLO: `labels/<image path without extension>.txt`, `data.yaml` (names), `classes.txt`,
 *   `train.txt`/`val.txt` listing the absolute image paths.
 */
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'
import { writeCoco } from '../formats/coco.ts'
import { writeDirAtomic, writeFileInto } from '../formats/atomicWrite.ts'
import type { Dataset } from '../formats/dataset.ts'
import { toVocXml } from '../formats/voc.ts'
import { seededSplit, toDataYaml, toYoloLabels } from '../formats/yolo.ts'
import type { ProjectStore } from '../store/projectStore.ts'

/** Options of exportProject (the contracts' export.run input). */
export interface ExportOptions {
  format: 'coco' | 'voc' | 'yolo'
  /** A .json file for COCO, a folder for VOC and YOLO. */
  outPath: string
  includeProposals?: boolean
  overwrite?: boolean
  /** Fraction of images for validation (YOLO and VOC ImageSets), by a seeded shuffle. */
  valFraction?: number
  seed?: number
}

/** What an export wrote. */
export interface ExportResult {
  outPath: string
  images: number
  boxes: number
  files: number
}

const stem = (file: string) => file.replace(/\.[^./]+$/, '')

/** Writes a dataset in one format (the part that does not need a store). */
export async function exportDataset(
  dataset: Dataset,
  imageRoot: string,
  options: ExportOptions,
): Promise<ExportResult> {
  const out = path.resolve(options.outPath)
  const boxes = dataset.images.reduce((n, im) => n + im.boxes.length, 0)
  const result = { outPath: out, images: dataset.images.length, boxes, files: 0 }
  const frac = options.valFraction ?? 0
  if (!(frac >= 0 && frac < 1))
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `the validation fraction must be in [0, 1), got ${frac}`,
    )
  const split = seededSplit(dataset.images.length, frac, options.seed ?? 1)
  if (options.format === 'coco') {
    await writeCoco(dataset, out, { overwrite: options.overwrite, description: 'camlabel export' })
    return { ...result, files: 1 }
  }
  if (options.format === 'voc') {
    await writeDirAtomic(
      out,
      async (tmp) => {
        for (const im of dataset.images) {
          await writeFileInto(
            path.join(tmp, 'Annotations', ...(stem(im.file) + '.xml').split('/')),
            toVocXml(im, path.basename(imageRoot)),
          )
        }
        const ids = (idx: number[]) => idx.map((i) => stem(dataset.images[i].file) + '\n').join('')
        await writeFileInto(
          path.join(tmp, 'ImageSets/Main/trainval.txt'),
          dataset.images.map((im) => stem(im.file) + '\n').join(''),
        )
        await writeFileInto(path.join(tmp, 'ImageSets/Main/train.txt'), ids(split.train))
        await writeFileInto(path.join(tmp, 'ImageSets/Main/val.txt'), ids(split.val))
        await writeFileInto(path.join(tmp, 'labels.txt'), dataset.classes.join('\n') + '\n')
      },
      { overwrite: options.overwrite },
    )
    return { ...result, files: dataset.images.length + 4 }
  }
  const classIndex = new Map(dataset.classes.map((c, i) => [c, i]))
  await writeDirAtomic(
    out,
    async (tmp) => {
      for (const im of dataset.images) {
        await writeFileInto(
          path.join(tmp, 'labels', ...(stem(im.file) + '.txt').split('/')),
          toYoloLabels(im.boxes, im.width, im.height, classIndex),
        )
      }
      const list = (idx: number[]) =>
        idx.map((i) => path.join(imageRoot, ...dataset.images[i].file.split('/')) + '\n').join('')
      await writeFileInto(path.join(tmp, 'train.txt'), list(split.train))
      if (frac > 0) await writeFileInto(path.join(tmp, 'val.txt'), list(split.val))
      await writeFileInto(path.join(tmp, 'classes.txt'), dataset.classes.join('\n') + '\n')
      await writeFileInto(
        path.join(tmp, 'data.yaml'),
        toDataYaml(dataset.classes, { train: 'train.txt', val: frac > 0 ? 'val.txt' : undefined }),
      )
    },
    { overwrite: options.overwrite },
  )
  return { ...result, files: dataset.images.length + (frac > 0 ? 4 : 3) }
}

/** Exports a project: reviewed boxes (accepted, edited, manual), plus pending proposals with scores when asked. */
export async function exportProject(
  store: ProjectStore,
  options: ExportOptions,
): Promise<ExportResult> {
  const dataset = store.toDataset({ withProposals: options.includeProposals })
  return exportDataset(dataset, store.imageRoot, options)
}
