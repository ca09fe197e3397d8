/**
 * `camlabel init PROJECT --images DIR [--labels CSV | --coco FILE | --voc DIR | --yolo DIR]`:
 * creates a project (or adds to an existing one: new images are added, review work is kept).
 */
import { existsSync } from 'node:fs'
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'
import {
  checkImportInputs,
  importProject,
  type ImportSource,
} from '../../main/project/importProject.ts'
import { ProjectStore } from '../../main/store/projectStore.ts'
import { parseCommandArgs } from '../args.ts'
import type { Command, CommandIO } from '../io.ts'
import { cliReport } from '../progress.ts'

const usage = `Usage: camlabel init PROJECT --images DIR [--labels CSV | --coco FILE | --voc DIR | --yolo DIR]

Creates the project file PROJECT (e.g. birds.camlabel) for the images under DIR (recursive: JPEG,
PNG, WebP, TIFF, GIF, AVIF; other files are skipped and counted), or, when PROJECT exists, adds new
images to it and keeps all review work.

  --images DIR     the image folder; paths in the project are relative to it
  --labels CSV     image-level labels: header + file,label rows, paths relative to the CSV
  --coco FILE      existing boxes in COCO JSON (file_name relative to DIR or to the JSON)
  --voc DIR        existing boxes in Pascal VOC XML (DIR or DIR/Annotations holds *.xml)
  --yolo DIR|YAML  existing boxes in YOLO txt (DIR/labels/*.txt + data.yaml or classes.txt; or
                   the dataset's data.yaml wherever it lies, as in Ultralytics' cfg/ layout)
  (none)           sub-folders of DIR are the labels (folder per class)
  --no-labels      import the images only

Imported boxes become accepted annotations and their classes image-level labels. Problems are
reported per file; the rest is imported.`

async function run(argv: string[], io: CommandIO): Promise<number> {
  const { values, positionals } = parseCommandArgs(
    argv,
    {
      images: { type: 'string' },
      labels: { type: 'string' },
      coco: { type: 'string' },
      voc: { type: 'string' },
      yolo: { type: 'string' },
      'no-labels': { type: 'boolean' },
    },
    'init',
  )
  if (positionals.length !== 1)
    throw new CamlabelError('INVALID_ARGUMENT', 'init takes one PROJECT path', usage)
  const file = path.resolve(io.cwd, positionals[0])
  const sources = (['labels', 'coco', 'voc', 'yolo', 'no-labels'] as const).filter(
    (k) => values[k] !== undefined,
  )
  if (sources.length > 1)
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `--${sources.join(' and --')} cannot be combined`,
      'Give one source of labels or boxes.',
    )
  const at = (p: string) => path.resolve(io.cwd, p)
  const labels: ImportSource = values.labels
    ? { kind: 'csv', path: at(values.labels) }
    : values.coco
      ? { kind: 'coco', path: at(values.coco) }
      : values.voc
        ? { kind: 'voc', dir: at(values.voc) }
        : values.yolo
          ? { kind: 'yolo', dir: at(values.yolo) }
          : values['no-labels']
            ? { kind: 'none' }
            : { kind: 'folders' }
  let store: ProjectStore
  if (existsSync(file)) {
    store = ProjectStore.open(file)
    const root = store.imageRoot
    if (values.images && path.resolve(root) !== at(values.images)) {
      store.close()
      throw new CamlabelError(
        'INVALID_ARGUMENT',
        `${file} already holds the images of ${root}, not ${at(values.images)}`,
        'Use another PROJECT path for another image folder.',
      )
    }
    io.stderr(`adding to the existing project ${file}\n`)
  } else {
    if (!values.images)
      throw new CamlabelError(
        'INVALID_ARGUMENT',
        '--images DIR is required for a new project',
        usage,
      )
    // A mistyped or zipped input fails before a project file is made.
    await checkImportInputs(at(values.images), labels)
    store = ProjectStore.create(file, at(values.images))
  }
  const report = cliReport(io)
  const abort = new AbortController()
  const onSignal = () => abort.abort()
  process.once('SIGINT', onSignal)
  try {
    const r = await importProject(store, { labels, signal: abort.signal, report })
    report.finish()
    for (const p of r.problems) io.stderr(`warning: ${p.file}: ${p.message}\n`)
    const c = store.counts()
    io.stdout(
      `${file}\n  ${r.imported} images imported, ${r.existing} already in the project, ${r.skipped} other files skipped, ` +
        `${r.problems.length} problems\n  ${r.labels} labels and ${r.boxes} boxes added; ${c.images} images, ${c.byClass.length} classes in the project\n`,
    )
    if (r.changed.length)
      io.stderr(
        `note: ${r.changed.length} images changed on disk since their import: ${r.changed.slice(0, 5).join(', ')}${r.changed.length > 5 ? '…' : ''}\n`,
      )
    return 0
  } finally {
    report.finish()
    process.off('SIGINT', onSignal)
    store.close()
  }
}

export const command: Command = {
  usage,
  run,
}
