/**
 * Importing images and their labels or boxes into a project. Resumable and repeatable: files
 * already in the project with the same size and mtime are not read again, new ones are added in
 * batches (one transaction per batch, so a crash loses at most the batch in flight), and review work
 * on existing images is never touched. Every problem is reported per file; the rest goes on.
 */
import { open, readdir, readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { clipBox } from '../../shared/box.ts'
import { CamlabelError, toErrorData, type ErrorCode } from '../../shared/errors.ts'
import { labelProblem } from '../../shared/labels.ts'
import { parseCoco } from '../formats/coco.ts'
import type { DatasetBox } from '../formats/dataset.ts'
import { labelsFromFolders } from '../formats/folderPerClass.ts'
import { readLabelsCsv } from '../formats/labelsCsv.ts'
import { toPosix, tryResolveInsideRoot } from '../formats/paths.ts'
import { scanImageFolder } from '../formats/scan.ts'
import { parseVocXml, xmlText } from '../formats/voc.ts'
import { parseClassesTxt, parseDataYaml, parseYoloLabels } from '../formats/yolo.ts'
import type { Report } from '../jobs/progress.ts'
import type { NewImage, ProjectStore } from '../store/projectStore.ts'
import { fileFingerprint } from '../store/hash.ts'
import { mapLimit, readImageSize } from './imageInfo.ts'

/** Where labels or boxes come from (the contracts' LabelSourceInput). */
export type ImportSource =
  | { kind: 'folders' }
  | { kind: 'none' }
  | { kind: 'csv'; path: string }
  | { kind: 'coco'; path: string }
  | { kind: 'voc'; dir: string }
  | { kind: 'yolo'; dir: string }

/** What an import did. */
export interface ImportReport {
  /** Images new to the project. */
  imported: number
  /** Images already in the project (their review work kept). */
  existing: number
  /** Images whose file changed since they were imported (size/hash updated). */
  changed: string[]
  /** Non-image files skipped. */
  skipped: number
  labels: number
  boxes: number
  /** Per file (or CSV line): what was wrong, and for an image that could not be read, its code. */
  problems: { file: string; message: string; code?: ErrorCode }[]
}

/** Options of importProject. */
export interface ImportOptions {
  labels: ImportSource
  /** Images per transaction (default 256). */
  batchSize?: number
  /** Concurrent header reads (default 4). */
  concurrency?: number
  signal?: AbortSignal
  /** Progress: the images read (stage `importing`), after each batch. */
  report?: Report
}

function checkAbort(signal?: AbortSignal): void {
  if (signal?.aborted)
    throw new CamlabelError(
      'CANCELLED',
      'Import cancelled; images imported so far are kept',
      "Run the same 'camlabel init' again to continue.",
    )
}

/** Imports the images under the project's image root and the given labels/boxes. */
export async function importProject(
  store: ProjectStore,
  options: ImportOptions,
): Promise<ImportReport> {
  const progress = (done: number, total: number) =>
    options.report?.({ type: 'progress', stage: 'importing', done, total, failed: 0 })
  const root = store.imageRoot
  const out: ImportReport = {
    imported: 0,
    existing: 0,
    changed: [],
    skipped: 0,
    labels: 0,
    boxes: 0,
    problems: [],
  }
  const problem = (file: string, message: string, code?: ErrorCode) =>
    out.problems.push(code ? { file, message, code } : { file, message })
  await checkImportInputs(root, options.labels)
  const scan = await scanImageFolder(root)
  // Images all at the top: folder names would silently give no labels at all.
  if (
    options.labels.kind === 'folders' &&
    scan.images.length > 0 &&
    scan.images.every((f) => !f.includes('/'))
  )
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `The images of ${root} are not in sub-folders, so folder names give no labels`,
      'Give the labels another way (a labels CSV, or annotations), or import the images without labels.',
    )
  out.skipped = scan.skipped.length
  for (const p of scan.problems) problem(p.file, p.reason)

  // Images: unchanged known files are not read; others get a header read and a fingerprint.
  const known = store.images.known()
  const jobId = store.jobs.start('import', { root, labels: options.labels }, scan.images.length)
  const batchSize = options.batchSize ?? 256
  const failed = new Set<string>()
  let done = 0
  try {
    for (let i = 0; i < scan.images.length; i += batchSize) {
      checkAbort(options.signal)
      const batch = scan.images.slice(i, i + batchSize)
      const infos = await mapLimit(
        batch,
        options.concurrency ?? 4,
        async (file): Promise<NewImage | undefined> => {
          const abs = path.join(root, ...file.split('/'))
          const k = known.get(file)
          try {
            const st = await stat(abs)
            if (k && k.size === st.size && k.mtimeMs === Math.round(st.mtimeMs)) return undefined
            const fp = await fileFingerprint(abs)
            if (fp.size === 0) throw new CamlabelError('IMAGE_UNREADABLE', 'the file is empty')
            if (k && k.hash === fp.hash) return { file, width: k.width, height: k.height, ...fp }
            return { file, ...(await readImageSize(abs, file)), ...fp }
          } catch (err) {
            failed.add(file)
            // The problem names the file already; keep the reason and what to do.
            const d = toErrorData(err)
            const reason = d.message.startsWith(`${file}: `)
              ? d.message.slice(file.length + 2)
              : d.message
            problem(file, d.hint ? `${reason}. ${d.hint}` : reason, d.code)
            return undefined
          }
        },
      )
      const fresh = infos.filter((x): x is NewImage => x !== undefined)
      store.transaction(() => {
        const r = store.images.upsert(fresh)
        out.imported += r.added.length
        out.changed.push(...r.changed)
        done += batch.length
        store.jobs.progress(jobId, done, failed.size)
      })
      progress(done, scan.images.length)
    }
    out.existing = scan.images.length - failed.size - out.imported
    await importLabels(store, options.labels, scan.images, failed, out)
    store.jobs.finish(jobId, 'done')
    saveImportReport(store, out)
  } catch (err) {
    store.jobs.finish(
      jobId,
      toErrorData(err).code === 'CANCELLED' ? 'cancelled' : 'failed',
      toErrorData(err).message,
    )
    throw err
  }
  return out
}

const SOURCE_NAME: Record<ImportSource['kind'], string> = {
  folders: 'image folder',
  none: 'image folder',
  csv: 'labels CSV',
  coco: 'COCO file',
  voc: 'VOC annotation folder',
  yolo: 'YOLO folder',
}

/** Whether a file starts as a zip archive does (local file header, or an empty archive's end). */
async function isZip(file: string): Promise<boolean> {
  const fh = await open(file, 'r').catch(() => undefined)
  if (!fh) return false
  try {
    const head = Buffer.alloc(4)
    const { bytesRead } = await fh.read(head, 0, 4, 0)
    return (
      bytesRead === 4 && head[0] === 0x50 && head[1] === 0x4b && (head[2] === 3 || head[2] === 5)
    )
  } finally {
    await fh.close()
  }
}

/**
 * Refuses, before a project is made or anything imported, inputs that cannot be read as given: a
 * missing image folder or annotation source, a file where a folder goes, and an archive (a .zip
 * as CVAT, Roboflow and Label Studio hand them out) where its contents are meant.
 * @throws CamlabelError NOT_FOUND, INVALID_ARGUMENT
 */
export async function checkImportInputs(imageRoot: string, labels: ImportSource): Promise<void> {
  const inputs: { path: string; name: string; want: 'folder' | 'file' | 'either' }[] = [
    { path: imageRoot, name: 'image folder', want: 'folder' },
  ]
  if (labels.kind === 'csv' || labels.kind === 'coco')
    inputs.push({ path: labels.path, name: SOURCE_NAME[labels.kind], want: 'file' })
  if (labels.kind === 'voc')
    inputs.push({ path: labels.dir, name: SOURCE_NAME.voc, want: 'folder' })
  // A YOLO dataset is its folder, or its data.yaml wherever that lies (Ultralytics' cfg/ layout).
  if (labels.kind === 'yolo')
    inputs.push({ path: labels.dir, name: SOURCE_NAME.yolo, want: 'either' })
  for (const input of inputs) {
    const abs = path.resolve(input.path)
    const st = await stat(abs).catch(() => undefined)
    if (!st)
      throw new CamlabelError(
        'NOT_FOUND',
        `The ${input.name} ${abs} does not exist`,
        'Check the path; nothing was imported.',
      )
    if (st.isFile() && (await isZip(abs)))
      throw new CamlabelError(
        'INVALID_ARGUMENT',
        `The ${input.name} ${abs} is a zip archive`,
        input.want === 'file'
          ? 'Unzip it first, then give the file it holds (a COCO export keeps it in annotations/).'
          : 'Unzip it first, then give the folder it holds.',
      )
    if (input.want === 'folder' && !st.isDirectory())
      throw new CamlabelError(
        'INVALID_ARGUMENT',
        `The ${input.name} ${abs} is a file, not a folder`,
        'Give the folder that holds it.',
      )
    if (input.want === 'file' && !st.isFile())
      throw new CamlabelError(
        'INVALID_ARGUMENT',
        `The ${input.name} ${abs} is not a file`,
        'Give the file itself.',
      )
  }
}

/** Meta key of the last import's report (importReport reads it back). */
export const IMPORT_REPORT_META = 'import_report'

/** Problems a stored report keeps (the count says how many there were). */
const STORED_PROBLEMS = 2000

/** The last import's report as the project keeps it. */
export interface StoredImportReport {
  at: string
  imported: number
  existing: number
  skipped: number
  labels: number
  boxes: number
  problemCount: number
  problems: ImportReport['problems']
}

function saveImportReport(store: ProjectStore, r: ImportReport): void {
  const stored: StoredImportReport = {
    at: new Date().toISOString(),
    imported: r.imported,
    existing: r.existing,
    skipped: r.skipped,
    labels: r.labels,
    boxes: r.boxes,
    problemCount: r.problems.length,
    problems: r.problems.slice(0, STORED_PROBLEMS),
  }
  store.setMeta(IMPORT_REPORT_META, JSON.stringify(stored))
}

/** The project's last import report, or null when it has none (made before reports were kept). */
export function importReport(store: Pick<ProjectStore, 'getMeta'>): StoredImportReport | null {
  const raw = store.getMeta(IMPORT_REPORT_META)
  if (!raw) return null
  try {
    return JSON.parse(raw) as StoredImportReport
  } catch {
    return null
  }
}

/** Resolves a path written in an annotation file to an image of the project. */
function makeResolver(root: string, images: readonly string[]) {
  const set = new Set(images)
  const byBase = new Map<string, string[]>()
  for (const f of images) {
    const b = f.slice(f.lastIndexOf('/') + 1)
    byBase.set(b, [...(byBase.get(b) ?? []), f])
  }
  return (ref: string, base: string): { file?: string; reason?: string } => {
    const candidates = [
      tryResolveInsideRoot(root, ref, root),
      tryResolveInsideRoot(root, ref, base),
    ]
    for (const c of candidates) if (c && set.has(c.rel)) return { file: c.rel }
    const escapes = toPosix(ref.replace(/\\/g, '/')).split('/').includes('..')
    if (escapes && candidates.every((c) => c === undefined)) {
      return { reason: `'${ref}' is outside the image folder; not read` }
    }
    if (path.isAbsolute(ref) && candidates[0] === undefined)
      return { reason: `'${ref}' is outside the image folder; not read` }
    const b = ref.replace(/\\/g, '/').split('/').pop() ?? ref
    const same = byBase.get(b) ?? []
    if (same.length === 1) return { file: same[0] }
    if (same.length > 1)
      return {
        reason: `'${ref}' matches ${same.length} images by name; use its path relative to the image folder`,
      }
    return { reason: `no image '${ref}' in the image folder` }
  }
}

async function importLabels(
  store: ProjectStore,
  source: ImportSource,
  images: string[],
  failed: Set<string>,
  out: ImportReport,
): Promise<void> {
  const root = store.imageRoot
  const ok = images.filter((f) => !failed.has(f))
  const problem = (file: string, message: string) => out.problems.push({ file, message })
  const idOf = (file: string) => store.images.byFile(file)
  // Boxes go only to images with no annotations yet, so a re-import never duplicates or overrides review work.
  const addBoxes = (file: string, boxes: Omit<DatasetBox, 'score'>[]) => {
    const im = idOf(file)
    if (!im) return
    const clipped: Omit<DatasetBox, 'score'>[] = []
    for (const b of boxes) {
      const c = clipBox(b.box, im.width, im.height)
      if (c.x0 !== b.box.x0 || c.y0 !== b.box.y0 || c.x1 !== b.box.x1 || c.y1 !== b.box.y1) {
        problem(file, `a '${b.label}' box reaches past the ${im.width}x${im.height} image; clipped`)
      }
      if (c.x1 - c.x0 < 1e-6 || c.y1 - c.y0 < 1e-6)
        problem(file, `a '${b.label}' box lies outside the image; skipped`)
      else clipped.push({ ...b, box: c })
    }
    if (store.review.annotationCount(im.id) > 0) {
      out.labels += store.labels.add(
        clipped.map((b) => ({ imageId: im.id, label: b.label, source: 'import' })),
      )
      return
    }
    out.boxes += store.review.addImported(im.id, clipped)
  }
  const addLabels = (rows: { file: string; label: string }[]) => {
    const withIds = rows.flatMap((r) => {
      const im = idOf(r.file)
      return im ? [{ imageId: im.id, label: r.label, source: 'import' }] : []
    })
    out.labels += store.labels.add(withIds)
  }

  switch (source.kind) {
    case 'none':
      return
    case 'folders': {
      const r = labelsFromFolders(ok, root)
      for (const p of r.problems) problem(p.file, p.reason)
      addLabels(r.rows)
      return
    }
    case 'csv': {
      const r = await readLabelsCsv(source.path, root)
      const csvName = path.basename(source.path)
      for (const p of r.problems) problem(`${csvName}:${p.line}`, p.reason)
      const usable = r.rows.filter((row) => {
        if (!failed.has(row.file)) return true
        problem(`${csvName}:${row.line}`, `'${row.file}' was not imported (see its own problem)`)
        return false
      })
      addLabels(usable)
      return
    }
    case 'coco': {
      let text: string
      try {
        text = await readFile(source.path, 'utf8')
      } catch (err) {
        throw new CamlabelError(
          'NOT_FOUND',
          `Cannot read ${source.path}: ${(err as Error).message}`,
          'Check the --coco path.',
        )
      }
      const name = path.basename(source.path)
      const coco = parseCoco(text, name)
      for (const p of coco.problems) problem(p.file ?? name, p.reason)
      for (const c of coco.classes) store.labels.ensureClass(c)
      const resolve = makeResolver(root, ok)
      const base = path.dirname(path.resolve(source.path))
      // One entry per image file: an image listed twice (two ids, one file) gets the boxes of both.
      const byFile = new Map<string, { ids: number[]; boxes: Omit<DatasetBox, 'score'>[] }>()
      for (const im of coco.images) {
        const r = resolve(im.file, base)
        if (!r.file) {
          problem(name, `image ${im.id}: ${r.reason}`)
          continue
        }
        const entry = byFile.get(r.file) ?? { ids: [], boxes: [] }
        entry.ids.push(im.id)
        entry.boxes.push(...im.boxes)
        byFile.set(r.file, entry)
      }
      for (const [file, e] of byFile)
        if (e.ids.length > 1)
          problem(
            name,
            `${file} is listed ${e.ids.length} times (image ids ${e.ids.join(', ')}); the boxes of all are imported`,
          )
      // Per image, as VOC and YOLO files: one bad entry rolls back alone, the others are kept.
      await inBatches(
        store,
        [...byFile],
        problem,
        ([, e]) => `${name}: image ${e.ids[0]}`,
        async ([file, e]) => ({
          name: `${name}: image ${e.ids[0]}`,
          apply: () => addBoxes(file, e.boxes),
        }),
      )
      return
    }
    case 'voc': {
      const dir = path.resolve(source.dir)
      const annDir = (await isDir(path.join(dir, 'Annotations')))
        ? path.join(dir, 'Annotations')
        : dir
      const xmls = await listFiles(annDir, '.xml')
      if (xmls.length === 0)
        problem(toPosix(path.relative(process.cwd(), annDir)), 'no .xml files found')
      const resolve = makeResolver(root, ok)
      const byStem = new Map<string, string>()
      for (const f of ok) byStem.set(f.replace(/\.[^./]+$/, ''), f)
      const relOf = (xml: string) => toPosix(path.relative(annDir, xml))
      await inBatches(store, xmls, problem, relOf, async (xml) => {
        const rel = relOf(xml)
        const voc = parseVocXml(xmlText(await readFile(xml)), rel)
        for (const p of voc.problems) problem(rel, p.reason)
        let file = voc.filename
          ? resolve(voc.filename, path.dirname(xml))
          : { reason: 'no <filename>' }
        // Fallback by the annotation's own name (Annotations/cat/a.xml ↔ cat/a.jpg), unless the filename escapes.
        if (!file.file && !/outside/.test(file.reason ?? '')) {
          const stem = byStem.get(rel.replace(/\.xml$/i, ''))
          if (stem) file = { file: stem }
        }
        if (!file.file) {
          problem(rel, file.reason!)
          return { name: rel }
        }
        return { name: rel, apply: () => addBoxes(file.file!, voc.objects) }
      })
      return
    }
    case 'yolo': {
      const { classes, labelsDir } = await yoloDataset(path.resolve(source.dir))
      for (const c of classes) store.labels.ensureClass(c)
      const txts = new Set(
        (await listFiles(labelsDir, '.txt')).map((f) => toPosix(path.relative(labelsDir, f))),
      )
      const flat = new Map<string, string[]>()
      for (const t of txts) {
        const base = t.slice(t.lastIndexOf('/') + 1)
        flat.set(base, [...(flat.get(base) ?? []), t])
      }
      await inBatches(
        store,
        ok,
        problem,
        (file) => file,
        async (file) => {
          const stem = file.replace(/\.[^./]+$/, '')
          const base = stem.slice(stem.lastIndexOf('/') + 1) + '.txt'
          // labels/<stem>.txt, then an Ultralytics split folder (labels/train/<stem>.txt), then a
          // unique file of that name anywhere under labels/.
          const txt =
            [stem, ...['train', 'val', 'test'].map((s) => `${s}/${stem}`)]
              .map((c) => c + '.txt')
              .find((c) => txts.has(c)) ??
            (flat.get(base)?.length === 1 ? flat.get(base)![0] : undefined)
          const im = txt ? idOf(file) : undefined
          if (!txt || !im) return { name: file }
          const r = parseYoloLabels(
            await readFile(path.join(labelsDir, txt), 'utf8'),
            classes,
            im.width,
            im.height,
            `labels/${txt}`,
          )
          for (const p of r.problems)
            problem(`labels/${txt}${p.line ? `:${p.line}` : ''}`, p.reason)
          return { name: `labels/${txt}`, apply: () => addBoxes(file, r.boxes) }
        },
      )
      return
    }
  }
}

/** Annotation files read and parsed per transaction (one fsync per batch, not per file). */
const LABEL_BATCH = 256

/**
 * Reads and parses annotation files a batch at a time (outside any transaction), then applies the
 * batch in one transaction, each file in its own savepoint: a file that fails — to read, to parse
 * or to apply — is reported under its name and rolls back alone; the others are kept.
 */
async function inBatches<T>(
  store: ProjectStore,
  items: readonly T[],
  problem: (file: string, message: string) => void,
  nameOf: (item: T) => string,
  read: (item: T) => Promise<{ name: string; apply?: () => void }>,
): Promise<void> {
  for (let i = 0; i < items.length; i += LABEL_BATCH) {
    const parsed: { name: string; apply?: () => void }[] = []
    for (const item of items.slice(i, i + LABEL_BATCH)) {
      try {
        parsed.push(await read(item))
      } catch (err) {
        problem(nameOf(item), toErrorData(err).message)
      }
    }
    store.transaction(() => {
      for (const p of parsed) {
        if (!p.apply) continue
        try {
          store.transaction(p.apply)
        } catch (err) {
          problem(p.name, toErrorData(err).message)
        }
      }
    })
  }
}

/**
 * A YOLO dataset's classes and labels folder, from its folder or from its data.yaml. The yaml is
 * data.yaml (or data.yml, dataset.yaml) at the top, or the one .yaml in cfg/ (Ultralytics' own
 * layout); the dataset root is its `path` (absolute, or relative to the yaml's folder), else the
 * yaml's folder or the one above it — whichever holds labels/. Without a yaml, classes.txt.
 * @throws CamlabelError NOT_FOUND when no class names are found
 */
async function yoloDataset(input: string): Promise<{ classes: string[]; labelsDir: string }> {
  const given = (await stat(input)).isFile() ? input : undefined
  const dir = given ? path.dirname(input) : input
  let yamlFile = given
  for (const name of ['data.yaml', 'data.yml', 'dataset.yaml']) {
    if (yamlFile) break
    if (await isFile(path.join(dir, name))) yamlFile = path.join(dir, name)
  }
  if (!yamlFile && (await isDir(path.join(dir, 'cfg')))) {
    const yamls = (await readdir(path.join(dir, 'cfg'))).filter((f) => /\.ya?ml$/i.test(f))
    if (yamls.length === 1) yamlFile = path.join(dir, 'cfg', yamls[0])
  }
  if (yamlFile) {
    const name = path.basename(yamlFile)
    const doc = parseDataYaml(await readFile(yamlFile, 'utf8'), name)
    if (doc.names) {
      const here = path.dirname(yamlFile)
      const roots = [
        ...(doc.path ? [path.resolve(here, doc.path)] : []),
        here,
        path.dirname(here),
        dir,
      ]
      for (const root of roots)
        if (await isDir(path.join(root, 'labels')))
          return { classes: checkedClasses(doc.names, name), labelsDir: path.join(root, 'labels') }
      return { classes: checkedClasses(doc.names, name), labelsDir: here }
    }
  }
  const labelsDir = (await isDir(path.join(dir, 'labels'))) ? path.join(dir, 'labels') : dir
  for (const name of ['classes.txt', 'obj.names', 'classes.names']) {
    const text = await readFile(path.join(dir, name), 'utf8').catch(() => undefined)
    if (text !== undefined)
      return { classes: checkedClasses(parseClassesTxt(text), name), labelsDir }
  }
  throw new CamlabelError(
    'NOT_FOUND',
    `No class names in ${dir}`,
    'A YOLO dataset needs data.yaml (names:) or classes.txt beside labels/.',
  )
}

async function isFile(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isFile(),
    () => false,
  )
}

/** Class names of a YOLO dataset, each one a label can be (else the file and index are named). */
function checkedClasses(names: string[], file: string): string[] {
  names.forEach((n, i) => {
    const bad = labelProblem(n)
    if (bad)
      throw new CamlabelError(
        'PARSE_ERROR',
        `${file}: class ${i}: ${bad}`,
        'Fix the class name there.',
      )
  })
  return names
}

async function isDir(p: string): Promise<boolean> {
  return stat(p).then(
    (s) => s.isDirectory(),
    () => false,
  )
}

/**
 * Files under `dir` ending in `ext`, sorted. An unreadable sub-folder is skipped.
 * @throws CamlabelError NOT_FOUND when `dir` itself cannot be read
 */
async function listFiles(dir: string, ext: string): Promise<string[]> {
  const out: string[] = []
  const walk = async (d: string) => {
    const entries = await readdir(d, { withFileTypes: true }).catch((err: unknown) => {
      if (d !== dir) return []
      throw new CamlabelError(
        'NOT_FOUND',
        `Cannot read the folder ${dir}: ${(err as Error).message}`,
        'Check the annotation folder path.',
        { cause: err },
      )
    })
    for (const e of entries) {
      if (e.name.startsWith('.')) continue
      const p = path.join(d, e.name)
      if (e.isDirectory()) await walk(p)
      else if (e.isFile() && e.name.toLowerCase().endsWith(ext)) out.push(p)
    }
  }
  await walk(dir)
  return out.sort()
}
