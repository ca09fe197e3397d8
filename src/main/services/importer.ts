/**
 * Creates a project from a folder: scans the images, reads their displayed size (EXIF-aware) and
 * fingerprint, and adds image-level labels from folder names or a labels CSV. Per-file problems
 * are reported and the rest goes on.
 *
 * A stop-gap for the app until the store's own import module (issue 3: COCO/VOC/YOLO) lands; only
 * the folder and CSV sources are handled here.
 */
import path from 'node:path'
import sharp from 'sharp'
import type { LabelSourceInput } from '../../shared/contracts/project.ts'
import { CamlabelError } from '../../shared/errors.ts'
import { readFolderPerClass } from '../formats/folderPerClass.ts'
import { readLabelsCsv } from '../formats/labelsCsv.ts'
import { scanImageFolder } from '../formats/scan.ts'
import { fileFingerprint } from '../store/hash.ts'
import type { NewImage, ProjectStore } from '../store/projectStore.ts'

export interface ImportReport {
  imported: number
  skipped: number
  problems: { file: string; message: string }[]
}

/** Width and height as displayed: EXIF orientations 5–8 swap the stored sides. */
async function displayedSize(file: string): Promise<{ width: number; height: number }> {
  const m = await sharp(file, { limitInputPixels: 100_000_000 }).metadata()
  if (!m.width || !m.height) throw new Error('no image size in the header')
  const swap = (m.orientation ?? 1) >= 5
  return swap ? { width: m.height, height: m.width } : { width: m.width, height: m.height }
}

/** Imports images and labels into `store` (new or existing: known files keep their review work). */
export async function importFolder(store: ProjectStore, imagesDir: string, labels: LabelSourceInput): Promise<ImportReport> {
  const root = path.resolve(imagesDir)
  const report: ImportReport = { imported: 0, skipped: 0, problems: [] }
  let rows: { file: string; label: string }[]
  let files: string[]
  if (labels.kind === 'folders') {
    const f = await readFolderPerClass(root)
    rows = f.rows
    report.skipped += f.skipped.length
    for (const p of f.problems) report.problems.push({ file: p.file, message: p.reason })
    const scan = await scanImageFolder(root)
    files = scan.images
  } else if (labels.kind === 'csv') {
    const scan = await scanImageFolder(root)
    report.skipped += scan.skipped.length
    const csv = await readLabelsCsv(path.resolve(labels.path), root)
    rows = csv.rows
    for (const p of csv.problems) report.problems.push({ file: `${path.basename(labels.path)}:${p.line}`, message: p.reason })
    const labelled = new Set(rows.map((r) => r.file))
    files = scan.images.filter((f) => labelled.has(f))
    report.skipped += scan.images.length - files.length
  } else {
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `Importing labels from ${labels.kind.toUpperCase()} is not available in the app yet`,
      'Use folder names or a labels CSV, or `camlabel init` with --coco/--voc/--yolo.',
    )
  }

  const images: NewImage[] = []
  for (const file of files) {
    const abs = path.join(root, ...file.split('/'))
    try {
      const [size, fp] = await Promise.all([displayedSize(abs), fileFingerprint(abs)])
      images.push({ file, ...size, ...fp })
    } catch (err) {
      report.problems.push({ file, message: `unreadable image: ${(err as Error).message}` })
    }
  }
  const { ids } = store.upsertImages(images)
  store.addLabels(rows.filter((r) => ids.has(r.file)).map((r) => ({ imageId: ids.get(r.file)!, label: r.label })))
  report.imported = images.length
  return report
}
