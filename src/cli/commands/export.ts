/** `camlabel export PROJECT --format coco|coco-results|voc|yolo --out PATH`: writes the reviewed boxes. */
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'
import {
  EXPORT_FORMATS,
  exportProject,
  type ExportFormat,
} from '../../main/project/exportProject.ts'
import { ProjectStore } from '../../main/store/projectStore.ts'
import { numberOption, parseCommandArgs } from '../args.ts'
import type { Command, CommandIO } from '../io.ts'

const FORMATS: readonly ExportFormat[] = EXPORT_FORMATS

const usage = `Usage: camlabel export PROJECT --format coco|coco-results|voc|yolo --out PATH [options]

Writes the reviewed images — every box decided; an image whose boxes were all rejected is a
negative — with their kept boxes (accepted, edited, drawn, imported; never a rejected one).
Images not reviewed yet are left out unless --include-unreviewed.

  --format F            coco (one .json file; --zip: one .zip with the images, as CVAT and
                        Label Studio import it);
                        coco-results (the detections array pycocotools' loadRes reads: every
                        proposal with its score, ids as in the coco export);
                        voc (a folder: JPEGImages/, Annotations/*.xml, ImageSets/Main/*.txt,
                        labelmap.txt);
                        yolo (a folder that trains as it is: images/<split>/, labels/<split>/,
                        data.yaml with train/val/names, classes.txt; --flat: Label Studio's
                        images/ + labels/ + classes.txt)
  --out PATH            the file (coco, coco-results) or folder (voc, yolo) to write
  --include-unreviewed  also images not reviewed yet, as negatives (with the boxes they have)
  --with-proposals      also pending proposals (with their score in COCO and VOC), and the
                        images that have them
  --split F             fraction of images for validation, by a seeded shuffle (yolo: default
                        0.2 — Ultralytics needs a val set; voc: default 0; 0 for none)
  --seed N              seed of the train/val shuffle (default 1; the same seed gives the same split)
  --zip                 coco: write a .zip (annotations/instances_default.json and images/)
  --flat                yolo: Label Studio's layout (no split folders)
  --no-images           voc: annotations only, no image files. By default the images are
                        copied into the export (a copy-on-write clone where the file system
                        offers one: no extra space); the project's own files are never changed.
  --link                voc, yolo: hard-link the images instead (no extra space on any file
                        system that links, but an exported image IS the project's file:
                        editing it in place changes the project's image too)
  --overwrite           replace an earlier camlabel export of the same format (only once the
                        new one is complete)`

async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      format: { type: 'string' },
      out: { type: 'string' },
      'with-proposals': { type: 'boolean' },
      'include-unreviewed': { type: 'boolean' },
      split: { type: 'string' },
      seed: { type: 'string' },
      overwrite: { type: 'boolean' },
      'no-images': { type: 'boolean' },
      link: { type: 'boolean' },
      zip: { type: 'boolean' },
      flat: { type: 'boolean' },
    },
    'export',
  )
  if (positionals.length !== 1)
    throw new CamlabelError('INVALID_ARGUMENT', 'export takes one PROJECT path', usage)
  const format = values.format as ExportFormat
  if (!FORMATS.includes(format)) {
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `--format must be ${FORMATS.join(', ')}; got '${values.format ?? ''}'`,
      usage,
    )
  }
  if (!values.out) throw new CamlabelError('INVALID_ARGUMENT', '--out PATH is required', usage)
  const flag = (name: 'zip' | 'flat' | 'no-images', formats: ExportFormat[]) => {
    if (values[name] && !formats.includes(format))
      throw new CamlabelError(
        'INVALID_ARGUMENT',
        `--${name} is for ${formats.join(', ')} exports, not ${format}`,
        usage,
      )
  }
  flag('zip', ['coco'])
  flag('flat', ['yolo'])
  flag('no-images', ['voc', 'yolo'])
  const store = ProjectStore.open(path.resolve(io.cwd, positionals[0]), { readonly: true })
  try {
    if (store.readOnlyNote) io.stderr(`note: ${store.readOnlyNote}\n`)
    const r = await exportProject(store, {
      format,
      outPath: path.resolve(io.cwd, values.out),
      includeProposals: values['with-proposals'] ?? false,
      includeUnreviewed: values['include-unreviewed'] ?? false,
      overwrite: values.overwrite ?? false,
      ...(values.split !== undefined
        ? { valFraction: numberOption(values.split, 'split', 0, [0, 0.99]) }
        : {}),
      seed: numberOption(values.seed, 'seed', 1),
      images: !(values['no-images'] ?? false),
      link: values.link ?? false,
      archive: values.zip ?? false,
      ...(values.flat ? { layout: 'flat' as const } : {}),
    })
    for (const p of r.problems ?? []) io.stderr(`warning: ${p.file}: ${p.message}\n`)
    const placed =
      r.linked !== undefined
        ? ` (images: ${r.copied} copied${r.cloned ? `, ${r.cloned} of them copy-on-write clones` : ''}${r.linked ? `, ${r.linked} hard-linked` : ''})`
        : ''
    const u = r.unreviewed
    const which =
      format === 'coco-results' || !u
        ? ''
        : u.included > 0
          ? ` (${r.images - u.included} reviewed, ${u.included} not reviewed)`
          : ' (reviewed)'
    io.stdout(
      `wrote ${r.outPath}: ${r.images} images${which}, ${r.boxes} ${format === 'coco-results' ? 'detections' : 'boxes'}, ${r.files} files${placed}\n`,
    )
    if (u && format !== 'coco-results' && u.images > u.included)
      io.stdout(
        `${u.images - u.included} images not reviewed yet were left out${values['include-unreviewed'] ? '' : ' (--include-unreviewed adds them as negatives)'}\n`,
      )
    return 0
  } finally {
    store.close()
  }
}

export const command: Command = {
  usage,
  run,
}
