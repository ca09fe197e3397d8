/**
 * Folder-per-class labels: each sub-folder of the image root is a label, and every image under it
 * (at any depth) gets that label — the layout of ImageNet-style and Keras `image_dataset_from_directory`
 * datasets. Images directly in the root have no class folder and are reported.
 */
import path from 'node:path'
import { labelProblem } from '../../shared/labels.ts'
import type { LabelProblem, LabelRow } from './labelsCsv.ts'
import { scanImageFolder } from './scan.ts'

/** What readFolderPerClass returns. */
export interface FolderPerClass {
  rows: LabelRow[]
  /** Labels found (sub-folder names), sorted. */
  labels: string[]
  /** Images without a class folder, and unreadable entries (`line` is 0: there are no lines). */
  problems: (LabelProblem & { file: string })[]
  /** Non-image files skipped. */
  skipped: string[]
}

/** Pure part: derives labels from relative image paths (posix). */
export function labelsFromFolders(images: string[], root: string): Omit<FolderPerClass, 'skipped'> {
  const rows: LabelRow[] = []
  const problems: FolderPerClass['problems'] = []
  const labels = new Set<string>()
  for (const file of images) {
    const slash = file.indexOf('/')
    if (slash < 0) {
      problems.push({ line: 0, file, reason: `'${file}' is not inside a class folder; no label` })
      continue
    }
    const label = file.slice(0, slash)
    const bad = labelProblem(label)
    if (bad) {
      problems.push({ line: 0, file, reason: `its folder name cannot be a label: ${bad}` })
      continue
    }
    labels.add(label)
    rows.push({ file, path: path.join(root, ...file.split('/')), label, line: 0 })
  }
  return { rows, labels: [...labels].sort(), problems }
}

/**
 * Scans `imageRoot` and labels every image by its top-level sub-folder.
 * @throws CamlabelError NOT_FOUND when the folder cannot be read
 */
export async function readFolderPerClass(imageRoot: string): Promise<FolderPerClass> {
  const root = path.resolve(imageRoot)
  const scan = await scanImageFolder(root)
  const result = labelsFromFolders(scan.images, root)
  for (const p of scan.problems) result.problems.push({ line: 0, ...p })
  return { ...result, skipped: scan.skipped }
}
