/**
 * Reader of `labels.csv`: a header naming a file and a label column (`file,label`), then rows, file
 * paths relative to the CSV, several rows
 * per file meaning several labels. Rows whose file is missing, whose path escapes the image root or
 * whose label is empty are reported per row with the line number; the other rows are returned.
 */
import { existsSync, statSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'
import { labelProblem } from '../../shared/labels.ts'
import { parseCsv } from './csv.ts'
import { tryResolveInsideRoot, isImageFile } from './paths.ts'

/** One usable row: `file` relative to the image root (posix), `path` absolute. */
export interface LabelRow {
  file: string
  path: string
  label: string
  line: number
}

/** A row that was not used and why. */
export interface LabelProblem {
  line: number
  reason: string
}

/** What readLabelsCsv returns: usable rows (duplicates removed) and per-row problems. */
export interface LabelsCsv {
  rows: LabelRow[]
  problems: LabelProblem[]
}

const FILE_COLUMNS = ['file', 'filename', 'file_name', 'image', 'path']
const LABEL_COLUMNS = ['label', 'class', 'category', 'name']

/**
 * Pure part of the reader: parses the text and resolves paths, with `fileExists` deciding whether a
 * file is there (the edge passes the file system; tests can pass a set).
 * @param csvDir folder the CSV's paths are relative to
 * @param imageRoot rows must point inside it; paths in the result are relative to it
 */
export function parseLabelsCsv(
  text: string,
  csvDir: string,
  imageRoot: string,
  fileExists: (abs: string) => boolean,
): LabelsCsv {
  const records = parseCsv(text)
  const rows: LabelRow[] = []
  const problems: LabelProblem[] = []
  if (records.length === 0) return { rows, problems: [{ line: 1, reason: 'the file is empty' }] }
  const header = records[0].fields.map((f) => f.trim().toLowerCase())
  const fileCol = header.findIndex((h) => FILE_COLUMNS.includes(h))
  const labelCol = header.findIndex((h) => LABEL_COLUMNS.includes(h))
  if (fileCol < 0 || labelCol < 0) {
    // Nothing of the file is quoted back: it may not be a labels file at all.
    problems.push({
      line: records[0].line,
      reason: `the first line must be a header naming a 'file' and a 'label' column (it has ${header.length} column${header.length === 1 ? '' : 's'}, none of them those); nothing was read`,
    })
    return { rows, problems }
  }
  const seen = new Set<string>()
  for (const { line, fields } of records.slice(1)) {
    const file = (fields[fileCol] ?? '').trim()
    const label = (fields[labelCol] ?? '').trim()
    if (file === '') {
      problems.push({ line, reason: 'empty file name' })
      continue
    }
    if (label === '') {
      problems.push({ line, reason: `empty label for '${file}'` })
      continue
    }
    const bad = labelProblem(label)
    if (bad) {
      problems.push({ line, reason: bad })
      continue
    }
    const resolved = tryResolveInsideRoot(imageRoot, file, csvDir)
    if (!resolved) {
      problems.push({ line, reason: `'${file}' is outside the image folder; not read` })
      continue
    }
    if (!fileExists(resolved.abs)) {
      problems.push({ line, reason: `'${file}' does not exist` })
      continue
    }
    if (!isImageFile(resolved.abs)) {
      problems.push({ line, reason: `'${file}' is not an image file (by its extension)` })
      continue
    }
    const key = `${resolved.rel}\u0000${label}`
    if (seen.has(key)) continue
    seen.add(key)
    rows.push({ file: resolved.rel, path: resolved.abs, label, line })
  }
  return { rows, problems }
}

/**
 * Reads a labels CSV from disk.
 * @param csvPath the CSV file; its rows' paths are relative to its folder
 * @param imageRoot the folder images must be inside (default: the CSV's folder); `file` in the rows
 *   is relative to it
 * @throws CamlabelError NOT_FOUND when the CSV itself cannot be read
 */
export async function readLabelsCsv(csvPath: string, imageRoot?: string): Promise<LabelsCsv> {
  let text: string
  try {
    text = await readFile(csvPath, 'utf8')
  } catch (err) {
    throw new CamlabelError(
      'NOT_FOUND',
      `Cannot read the labels file ${csvPath}: ${(err as Error).message}`,
      'Check the --labels path.',
      { cause: err },
    )
  }
  const csvDir = path.dirname(path.resolve(csvPath))
  return parseLabelsCsv(text, csvDir, path.resolve(imageRoot ?? csvDir), (abs) => {
    return existsSync(abs) && statSync(abs).isFile()
  })
}
