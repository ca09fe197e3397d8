/** `camlabel export PROJECT --format coco|voc|yolo --out PATH`: writes the reviewed boxes. */
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'
import { exportProject } from '../../main/project/exportProject.ts'
import { ProjectStore } from '../../main/store/projectStore.ts'
import { numberOption, parseCommandArgs } from '../args.ts'
import type { Command, CommandIO } from '../io.ts'

const usage = `Usage: camlabel export PROJECT --format coco|voc|yolo --out PATH [options]

Writes the reviewed boxes (accepted, edited, drawn; never rejected ones) of every image.

  --format F          coco (one .json file);
                      voc (a folder: JPEGImages/, Annotations/*.xml, ImageSets/Main/*.txt);
                      yolo (a folder that trains as it is: images/<split>/, labels/<split>/*.txt,
                      data.yaml with path/train/val/names, classes.txt)
  --out PATH          the file (coco) or folder (voc, yolo) to write
  --no-images         voc, yolo: annotations only, no image files (yolo then lists the original
                      image paths in train.txt/val.txt). By default the images are copied into
                      the export (a copy-on-write clone where the file system offers one: no
                      extra space); the project's own files are never changed.
  --link              voc, yolo: hard-link the images instead (no extra space on any file system
                      that links, but an exported image IS the project's file: editing it in
                      place changes the project's image too)
  --with-proposals    also write pending proposals (with their score in COCO and VOC)
  --split F           fraction of images for validation, e.g. 0.2 (yolo, voc; default 0)
  --seed N            seed of the train/val shuffle (default 1; the same seed gives the same split)
  --overwrite         replace an existing export (it is replaced only once the new one is complete)`

async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      format: { type: 'string' },
      out: { type: 'string' },
      'with-proposals': { type: 'boolean' },
      split: { type: 'string' },
      seed: { type: 'string' },
      overwrite: { type: 'boolean' },
      'no-images': { type: 'boolean' },
      link: { type: 'boolean' },
    },
    'export',
  )
  if (positionals.length !== 1)
    throw new CamlabelError('INVALID_ARGUMENT', 'export takes one PROJECT path', usage)
  const format = values.format
  if (format !== 'coco' && format !== 'voc' && format !== 'yolo') {
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `--format must be coco, voc or yolo, got '${format ?? ''}'`,
      usage,
    )
  }
  if (!values.out) throw new CamlabelError('INVALID_ARGUMENT', '--out PATH is required', usage)
  const store = ProjectStore.open(path.resolve(io.cwd, positionals[0]), { readonly: true })
  try {
    if (store.readOnlyNote) io.stderr(`note: ${store.readOnlyNote}\n`)
    const r = await exportProject(store, {
      format,
      outPath: path.resolve(io.cwd, values.out),
      includeProposals: values['with-proposals'] ?? false,
      overwrite: values.overwrite ?? false,
      valFraction: numberOption(values.split, 'split', 0, [0, 0.99]),
      seed: numberOption(values.seed, 'seed', 1),
      images: !(values['no-images'] ?? false),
      link: values.link ?? false,
    })
    for (const p of r.problems ?? []) io.stderr(`warning: ${p.file}: ${p.message}\n`)
    const placed =
      r.linked !== undefined
        ? ` (images: ${r.copied} copied${r.cloned ? `, ${r.cloned} of them copy-on-write clones` : ''}${r.linked ? `, ${r.linked} hard-linked` : ''})`
        : ''
    io.stdout(
      `wrote ${r.outPath}: ${r.images} images, ${r.boxes} boxes, ${r.files} files${placed}\n`,
    )
    return 0
  } finally {
    store.close()
  }
}

export const command: Command = {
  summary: 'export reviewed boxes as COCO, Pascal VOC or YOLO',
  usage,
  run,
}
