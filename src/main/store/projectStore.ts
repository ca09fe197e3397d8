/**
 * The project store: one SQLite file per project (see db.ts for durability, schema.ts for tables).
 * This class is the only way the app, the CLI and the jobs touch a project. Every change is one
 * transaction; every review edit is recorded in `history` so it can be undone and redone.
 *
 * Box ids (as the review screen sees them): `p<N>` a pending proposal, `a<N>` an annotation, or the
 * renderer's own key for boxes it created (kept across saves).
 */
import path from 'node:path'
import { existsSync } from 'node:fs'
import { clipBox, iou, type Box } from '../../shared/box.ts'
import type { BoxStatus, ImageStatus } from '../../shared/contracts/common.ts'
import { CamlabelError } from '../../shared/errors.ts'
import type { LearnedHead } from '../engine/head.ts'
import type { LabelMapping } from '../engine/labels.ts'
import { DEFAULT_PROPOSAL_OPTIONS, type Map2D, type RawProposal } from '../engine/types.ts'
import type { Dataset, DatasetImage } from '../formats/dataset.ts'
import type { Statement } from 'better-sqlite3'
import { openDatabase, type Db, type OpenOptions } from './db.ts'
import {
  galleryIds,
  galleryPage,
  galleryTotal,
  statusCounts,
  type GalleryItem,
  type GalleryQuery,
} from './gallery.ts'
import {
  featureCounts,
  featureErrors,
  featureSamples,
  imagesMissingFeatures,
  labelMappings,
  loadHead,
  saveFeatures,
  saveHead,
  setLabelMapping,
  staleLabelImages,
  storedSourceKinds,
  type FeatureCounts,
  type FeatureSample,
  type FeatureTodo,
  type StoredHead,
} from './learning.ts'
import {
  addedLabels,
  refreshImage,
  removeImplicitLabels,
  restore,
  restoreImplicitLabels,
  snapshot,
  type AnnotationRow,
  type ProposalRow,
  type Snapshot,
} from './review.ts'
import { blobToFloats, floatsToBlob } from './blobs.ts'

export type { GalleryItem, GalleryQuery } from './gallery.ts'
export type { FeatureCounts, FeatureSample, FeatureTodo, StoredHead } from './learning.ts'

/** A class of the project, in the user's order. */
export interface ClassInfo {
  id: number
  name: string
  position: number
}

/** An image row as stored. */
export interface ImageRecord {
  id: number
  file: string
  width: number
  height: number
  size: number
  mtimeMs: number
  hash: string
  importedAt: number
  status: ImageStatus
  minScore: number | null
  threshold: number | null
  revision: number
}

/** An image to add (from an import scan). */
export interface NewImage {
  file: string
  width: number
  height: number
  size: number
  mtimeMs: number
  hash: string
}

/** A box of the review screen (the contracts' ReviewBox). */
export interface ReviewBox {
  id: string
  label: string
  box: Box
  status: BoxStatus
  score: number | null
}

/** A stored low-resolution CAM. */
export interface StoredCam {
  label: string
  model: string
  revision: string
  cam: Map2D
  confidence: number
  source: string
}

/** Everything the review screen shows of one image. */
export interface ImageDetail {
  image: ImageRecord
  labels: string[]
  boxes: ReviewBox[]
  cams: StoredCam[]
}

/**
 * Identifies a proposal run: the model and its preprocessing revision, the threshold used, and how
 * the CAM was upscaled to boxes (default bilinear at DEFAULT_PROPOSAL_OPTIONS.workingSize).
 */
export interface RunInfo {
  model: string
  revision: string
  threshold: number
  upscale?: 'bilinear' | 'guided'
  workingSize?: number
}

/** An image a run already processed in another way than the run asks for (see imagesToRedo). */
export interface RedoImage {
  id: number
  file: string
  width: number
  height: number
  /** The threshold its current proposals were made at. */
  threshold: number
  upscale: 'bilinear' | 'guided'
  labels: string[]
}

/** The proposals of one label of one image, as the pipeline produces them. */
export interface LabelResult {
  label: string
  source: string
  confidence: number
  cam: Map2D
  proposals: RawProposal[]
  /** What exactly made the CAM (model classes, which learned head, agnostic); see learning.ts. */
  sourceKey?: string
}

/** A job row. */
export interface JobRecord {
  id: number
  kind: string
  params: unknown
  status: 'running' | 'done' | 'failed' | 'cancelled'
  total: number
  done: number
  failed: number
  error: string | null
  startedAt: number
  updatedAt: number
}

/** Counts for `camlabel status` and the project summary. */
export interface ProjectCounts {
  images: number
  byStatus: Record<ImageStatus, number>
  boxes: Record<BoxStatus, number>
  byClass: { label: string; images: number; kept: number; pending: number; rejected: number }[]
}

const now = () => Date.now()

function rowToImage(r: Record<string, unknown>): ImageRecord {
  return {
    id: r.id as number,
    file: r.path as string,
    width: r.width as number,
    height: r.height as number,
    size: r.size as number,
    mtimeMs: r.mtime_ms as number,
    hash: r.hash as string,
    importedAt: r.imported_at as number,
    status: r.status as ImageStatus,
    minScore: r.min_score as number | null,
    threshold: r.threshold as number | null,
    revision: r.revision as number,
  }
}

const boxOf = (r: { x0: number; y0: number; x1: number; y1: number }): Box => ({
  x0: r.x0,
  y0: r.y0,
  x1: r.x1,
  y1: r.y1,
})

/** A decided box of an image, as replacePending compares new proposals with it. */
type DecidedBox = Pick<AnnotationRow, 'class_id' | 'status' | 'x0' | 'y0' | 'x1' | 'y1'>

/** The same box within half a pixel on every side. */
function sameBox(a: Box, b: Box): boolean {
  return (
    Math.abs(a.x0 - b.x0) < 0.5 &&
    Math.abs(a.y0 - b.y0) < 0.5 &&
    Math.abs(a.x1 - b.x1) < 0.5 &&
    Math.abs(a.y1 - b.y1) < 0.5
  )
}

/** A decided box makes a new proposal redundant: a rejected one when equal, a kept one when IoU ≥ 0.5. */
function coversDecided(d: DecidedBox, b: Box): boolean {
  return d.status === 'rejected' ? sameBox(d, b) : iou(boxOf(d), b) >= 0.5
}

function checkBox(b: Box): void {
  if (![b.x0, b.y0, b.x1, b.y1].every(Number.isFinite) || b.x1 <= b.x0 || b.y1 <= b.y0) {
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `Box ${JSON.stringify(b)} is empty or not finite`,
      'A box needs x0 < x1 and y0 < y1.',
    )
  }
}

/**
 * A user's box made fit for the image: checked (finite, non-empty), then clipped to the image so
 * no export ever gets a box past its edge.
 * @throws CamlabelError INVALID_ARGUMENT when the box is empty, or lies wholly outside the image
 */
function fitBox(b: Box, width: number, height: number): Box {
  checkBox(b)
  const c = clipBox(b, width, height)
  if (c.x1 <= c.x0 || c.y1 <= c.y0) {
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `Box ${JSON.stringify(b)} lies outside the ${width}x${height} image`,
      'Draw the box over the image.',
    )
  }
  return c
}

export class ProjectStore {
  /** The underlying connection (for tests and advanced queries; prefer the methods). */
  readonly db: Db
  /** The project file. */
  readonly file: string

  /** Prepared statements by SQL text: hot paths (run marks, job progress, undo/redo) prepare once. */
  private readonly statements = new Map<string, Statement>()

  private constructor(db: Db, file: string) {
    this.db = db
    this.file = file
  }

  /** The prepared statement of `sql`, prepared on first use and kept for the connection's life. */
  private sql(sql: string): Statement {
    let st = this.statements.get(sql)
    if (!st) {
      st = this.db.prepare(sql)
      this.statements.set(sql, st)
    }
    return st
  }

  /**
   * Creates a new project file (refuses an existing one) for images under `imageRoot`.
   * @throws CamlabelError ALREADY_EXISTS when the file exists
   */
  static create(
    file: string,
    imageRoot: string,
    options: Pick<OpenOptions, 'appVersion' | 'migrations'> = {},
  ): ProjectStore {
    const abs = path.resolve(file)
    if (existsSync(abs)) {
      throw new CamlabelError(
        'ALREADY_EXISTS',
        `${abs} already exists`,
        'Open it instead, or choose another project path.',
      )
    }
    const store = new ProjectStore(openDatabase(abs, { ...options, create: true }), abs)
    store.setMeta('image_root', path.resolve(imageRoot))
    store.setMeta(
      'image_root_relative',
      path.relative(path.dirname(abs), path.resolve(imageRoot)) || '.',
    )
    return store
  }

  /**
   * Opens an existing project, migrating an older schema.
   * @throws CamlabelError NOT_FOUND, PROJECT_TOO_NEW, PARSE_ERROR
   */
  static open(file: string, options: Omit<OpenOptions, 'create'> = {}): ProjectStore {
    const abs = path.resolve(file)
    return new ProjectStore(openDatabase(abs, options), abs)
  }

  /** Closes the connection (checkpoints the WAL). */
  close(): void {
    if (this.db.open) this.db.close()
  }

  /** Runs `fn` in one transaction (nested calls join the outer one). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)()
  }

  /** A meta value (schema_version, app_version, image_root, created_at…). */
  getMeta(key: string): string | undefined {
    const r = this.sql('SELECT value FROM meta WHERE key = ?').get(key) as
      { value: string } | undefined
    return r?.value
  }

  /** Sets a meta value. */
  setMeta(key: string, value: string): void {
    this.sql(
      'INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    ).run(key, value)
  }

  /**
   * The folder image paths are relative to. When the stored absolute folder is gone but the one
   * relative to the project file exists (project and images moved together), that one is used.
   */
  get imageRoot(): string {
    const abs = this.getMeta('image_root') ?? path.dirname(this.file)
    if (existsSync(abs)) return abs
    const rel = this.getMeta('image_root_relative')
    const moved = rel ? path.resolve(path.dirname(this.file), rel) : undefined
    return moved && existsSync(moved) ? moved : abs
  }

  /** Absolute path of an image file. */
  imagePath(file: string): string {
    return path.join(this.imageRoot, ...file.split('/'))
  }

  // ---- classes and labels -------------------------------------------------------------------

  /** Classes in their order (position), with stable ids. */
  classes(): ClassInfo[] {
    return this.sql(
      'SELECT id, name, position FROM classes ORDER BY position, id',
    ).all() as ClassInfo[]
  }

  /** The id of a class, creating it at the end of the order when new. */
  ensureClass(name: string): number {
    const n = name.trim()
    if (n === '') throw new CamlabelError('INVALID_ARGUMENT', 'A class name cannot be empty')
    const r = this.sql('SELECT id FROM classes WHERE name = ?').get(n) as { id: number } | undefined
    if (r) return r.id
    const pos = (
      this.sql('SELECT coalesce(max(position), -1) + 1 AS p FROM classes').get() as {
        p: number
      }
    ).p
    return Number(
      this.sql('INSERT INTO classes(name, position) VALUES (?, ?)').run(n, pos).lastInsertRowid,
    )
  }

  /**
   * Adds image-level labels (already present ones are kept). Returns how many were new. A label
   * present only because a review edit implied it (source 'review') takes the given source, so
   * undoing that edit no longer removes a label the user or an import gave explicitly.
   */
  addLabels(rows: { imageId: number; label: string; source?: string }[]): number {
    return this.transaction(() => {
      const ins = this.sql(
        'INSERT OR IGNORE INTO labels(image_id, class_id, source) VALUES (?, ?, ?)',
      )
      const claim = this.sql(
        "UPDATE labels SET source = ? WHERE image_id = ? AND class_id = ? AND source = 'review'",
      )
      let added = 0
      for (const r of rows) {
        const source = r.source ?? 'user'
        const classId = this.ensureClass(r.label)
        const n = ins.run(r.imageId, classId, source).changes
        if (n === 0 && source !== 'review') claim.run(source, r.imageId, classId)
        added += n
      }
      return added
    })
  }

  /** An image's labels in class order. */
  labelsOf(imageId: number): string[] {
    return this.sql(
      'SELECT c.name FROM labels l JOIN classes c ON c.id = l.class_id WHERE l.image_id = ? ORDER BY c.position',
    )
      .pluck()
      .all(imageId) as string[]
  }

  // ---- images -------------------------------------------------------------------------------

  /**
   * Adds images in one transaction. An image already in the project (same path) keeps its row and
   * all review work; if its fingerprint changed, its size and hash are updated and it is listed in
   * `changed`. Returns the id of every given file.
   */
  upsertImages(images: NewImage[]): {
    ids: Map<string, number>
    added: string[]
    changed: string[]
  } {
    return this.transaction(() => {
      const get = this.sql('SELECT id, hash FROM images WHERE path = ?')
      const ins = this.sql(
        'INSERT INTO images(path, width, height, size, mtime_ms, hash, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      )
      const upd = this.sql(
        'UPDATE images SET width = ?, height = ?, size = ?, mtime_ms = ?, hash = ? WHERE id = ?',
      )
      const ids = new Map<string, number>()
      const added: string[] = []
      const changed: string[] = []
      const t = now()
      for (const im of images) {
        const old = get.get(im.file) as { id: number; hash: string } | undefined
        if (old) {
          ids.set(im.file, old.id)
          if (old.hash !== im.hash) {
            upd.run(im.width, im.height, im.size, im.mtimeMs, im.hash, old.id)
            changed.push(im.file)
          }
        } else {
          ids.set(
            im.file,
            Number(
              ins.run(im.file, im.width, im.height, im.size, im.mtimeMs, im.hash, t)
                .lastInsertRowid,
            ),
          )
          added.push(im.file)
        }
      }
      return { ids, added, changed }
    })
  }

  /** One image by id, or undefined. */
  image(id: number): ImageRecord | undefined {
    const r = this.sql('SELECT * FROM images WHERE id = ?').get(id) as
      Record<string, unknown> | undefined
    return r ? rowToImage(r) : undefined
  }

  /** One image by its path relative to the root, or undefined. */
  imageByFile(file: string): ImageRecord | undefined {
    const r = this.sql('SELECT * FROM images WHERE path = ?').get(file) as
      Record<string, unknown> | undefined
    return r ? rowToImage(r) : undefined
  }

  /** Every image path → fingerprint (for re-import: skip unchanged files without reading them). */
  knownFiles(): Map<
    string,
    { id: number; size: number; mtimeMs: number; hash: string; width: number; height: number }
  > {
    const rows = this.sql(
      'SELECT id, path, size, mtime_ms, hash, width, height FROM images',
    ).all() as Record<string, number & string>[]
    return new Map(
      rows.map((r) => [
        r.path,
        {
          id: r.id,
          size: r.size,
          mtimeMs: r.mtime_ms,
          hash: r.hash,
          width: r.width,
          height: r.height,
        },
      ]),
    )
  }

  /** Number of images. */
  imageCount(): number {
    return (this.sql('SELECT count(*) AS n FROM images').get() as { n: number }).n
  }

  // ---- imported annotations -----------------------------------------------------------------

  /**
   * Adds boxes read from an existing annotation file as `accepted` annotations with source
   * `import` (not recorded in the edit history: an import is not an edit to undo). Their labels are
   * added as image-level labels. Returns how many boxes were added.
   */
  addImportedBoxes(imageId: number, boxes: { label: string; box: Box }[]): number {
    return this.transaction(() => {
      const ins = this.sql(
        `INSERT INTO annotations(image_id, class_id, x0, y0, x1, y1, status, source, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 'accepted', 'import', ?)`,
      )
      const t = now()
      const size = this.imageSize(imageId)
      for (const b of boxes) {
        const c = fitBox(b.box, size.width, size.height)
        ins.run(imageId, this.ensureClass(b.label), c.x0, c.y0, c.x1, c.y1, t)
      }
      this.addLabels(boxes.map((b) => ({ imageId, label: b.label, source: 'import' })))
      refreshImage(this.db, imageId, false)
      return boxes.length
    })
  }

  /** Number of annotations (any status) of an image. */
  annotationCount(imageId: number): number {
    return (
      this.sql('SELECT count(*) AS n FROM annotations WHERE image_id = ?').get(imageId) as {
        n: number
      }
    ).n
  }

  // ---- proposals and CAMs -------------------------------------------------------------------

  /**
   * Images a run of this model revision still has to process (never processed by it), with their
   * labels, in path order: the resume point of `camlabel propose`. Without `revision`: images no
   * revision of the model processed (an estimate that needs no model files).
   */
  imagesToPropose(
    model: string,
    revision?: string,
  ): { id: number; file: string; labels: string[] }[] {
    const rows = this.sql(
      `SELECT i.id, i.path AS file, (SELECT json_group_array(c.name) FROM labels l JOIN classes c ON c.id = l.class_id WHERE l.image_id = i.id) AS labels
         FROM images i WHERE NOT EXISTS (SELECT 1 FROM runs r WHERE r.model = ? AND (? IS NULL OR r.revision = ?) AND r.image_id = i.id)
         ORDER BY i.path`,
    ).all(model, revision ?? null, revision ?? null) as {
      id: number
      file: string
      labels: string
    }[]
    return rows.map((r) => ({ id: r.id, file: r.file, labels: JSON.parse(r.labels) as string[] }))
  }

  /**
   * Persists one image's proposal results in one transaction: its CAMs (replacing those of the same
   * model revision), new pending proposals replacing the image's previous pending ones (decided ones
   * — accepted, edited, rejected — are kept, so a re-run never undoes review work), and the run mark
   * that makes a resumed run skip it. The image's undo history is cleared (it referred to the old
   * proposals). With `only`, just those labels' pending proposals are replaced (saveLabelProposals).
   */
  saveProposals(
    imageId: number,
    run: RunInfo,
    results: LabelResult[],
    only?: ReadonlySet<string>,
  ): void {
    this.transaction(() => {
      this.storeCams(imageId, run, results)
      // A proposal equal to a box the user already rejected or kept is not offered again.
      this.replacePending(imageId, run, results, (d, b) => sameBox(d, b), only)
    })
  }

  /**
   * Re-proposes an image a run already processed another way (another upscale mode or working
   * size): stores its new CAMs and replaces its pending proposals, keeping decided boxes as
   * replacePendingProposals does (a proposal covering a kept box of its class, IoU ≥ 0.5, or equal
   * to a rejected one, is not offered). One transaction; the undo history of the image is cleared.
   */
  reproposeImage(imageId: number, run: RunInfo, results: LabelResult[]): void {
    this.transaction(() => {
      this.storeCams(imageId, run, results)
      this.replacePending(imageId, run, results, coversDecided)
    })
  }

  /** Upserts the CAMs of `results` under the run's model revision (inside a transaction). */
  private storeCams(imageId: number, run: RunInfo, results: LabelResult[]): void {
    const t = now()
    const cam = this.sql(
      `INSERT INTO cams(image_id, class_id, model, revision, width, height, data, confidence, source, source_key, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(image_id, class_id, model, revision) DO UPDATE SET width = excluded.width,
           height = excluded.height, data = excluded.data, confidence = excluded.confidence,
           source = excluded.source, source_key = excluded.source_key, created_at = excluded.created_at`,
    )
    for (const r of results) {
      cam.run(
        imageId,
        this.ensureClass(r.label),
        run.model,
        run.revision,
        r.cam.width,
        r.cam.height,
        floatsToBlob(r.cam.data),
        r.confidence,
        r.source,
        r.sourceKey ?? null,
        t,
      )
    }
  }

  /**
   * Re-proposes some labels of an image (their CAM source changed): stores their new CAMs and
   * replaces the pending proposals of those labels only; other labels' proposals and every decided
   * box stay. One transaction; the image's undo history is cleared, as by saveProposals.
   */
  saveLabelProposals(imageId: number, run: RunInfo, results: LabelResult[]): void {
    this.saveProposals(imageId, run, results, new Set(results.map((r) => r.label)))
  }

  /**
   * Replaces an image's pending proposals with ones recomputed from its stored CAMs at another
   * threshold (no inference), in one transaction, and marks the run with the new threshold.
   * Decided boxes stay as they are; a recomputed proposal is not offered when it covers the same
   * object as a kept box of its class (IoU ≥ 0.5: the user already has that object) or equals a
   * rejected one. The image's undo history is cleared, as by saveProposals.
   */
  replacePendingProposals(
    imageId: number,
    run: RunInfo,
    results: Pick<LabelResult, 'label' | 'proposals'>[],
  ): void {
    this.transaction(() => this.replacePending(imageId, run, results, coversDecided))
  }

  /** Shared by saveProposals and replacePendingProposals (inside their transaction). */
  private replacePending(
    imageId: number,
    run: RunInfo,
    results: Pick<LabelResult, 'label' | 'proposals'>[],
    covers: (decided: DecidedBox, proposal: Box) => boolean,
    only?: ReadonlySet<string>,
  ): void {
    const t = now()
    const del = this.sql(
      'DELETE FROM proposals WHERE image_id = ? AND (? IS NULL OR class_id = ?) AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = proposals.id)',
    )
    if (!only) del.run(imageId, null, null)
    else for (const label of only) del.run(imageId, 1, this.ensureClass(label))
    const prop = this.sql(
      `INSERT INTO proposals(image_id, class_id, x0, y0, x1, y1, score, rank, model, revision, threshold, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    const decided = this.sql(
      'SELECT class_id, status, x0, y0, x1, y1 FROM annotations WHERE image_id = ?',
    ).all(imageId) as DecidedBox[]
    for (const r of results) {
      const classId = this.ensureClass(r.label)
      for (const p of r.proposals) {
        if (decided.some((d) => d.class_id === classId && covers(d, p.box))) continue
        prop.run(
          imageId,
          classId,
          p.box.x0,
          p.box.y0,
          p.box.x1,
          p.box.y1,
          p.score,
          p.rank,
          run.model,
          run.revision,
          run.threshold,
          t,
        )
      }
    }
    this.markRun(imageId, run, null)
    this.sql('UPDATE images SET threshold = ? WHERE id = ?').run(run.threshold, imageId)
    this.sql('DELETE FROM history WHERE image_id = ?').run(imageId)
    refreshImage(this.db, imageId)
  }

  /**
   * Images this model revision processed successfully at another threshold than `threshold` and
   * whose CAMs are stored: those a re-run at `threshold` recomputes without inference. Path order.
   */
  imagesToRecompute(
    model: string,
    revision: string,
    threshold: number,
  ): { id: number; file: string; width: number; height: number }[] {
    return this.sql(
      `SELECT i.id, i.path AS file, i.width, i.height FROM runs r JOIN images i ON i.id = r.image_id
         WHERE r.model = ? AND r.revision = ? AND r.error IS NULL AND abs(r.threshold - ?) > 1e-9
           AND EXISTS (SELECT 1 FROM cams m WHERE m.image_id = i.id AND m.model = r.model AND m.revision = r.revision)
         ORDER BY i.path`,
    ).all(model, revision, threshold) as {
      id: number
      file: string
      width: number
      height: number
    }[]
  }

  /**
   * Images this model revision processed successfully in another way than `run` asks: another
   * upscale mode or working size, or — when `rethreshold` — another threshold. A bilinear run
   * recomputes them from their stored CAMs; a guided one runs them again (the guide is the image).
   * Path order.
   */
  imagesToRedo(run: RunInfo, rethreshold: boolean): RedoImage[] {
    const ws = run.workingSize ?? DEFAULT_PROPOSAL_OPTIONS.workingSize
    const rows = this.sql(
      `SELECT i.id, i.path AS file, i.width, i.height, r.threshold, r.upscale,
           (SELECT json_group_array(c.name) FROM labels l JOIN classes c ON c.id = l.class_id WHERE l.image_id = i.id) AS labels
         FROM runs r JOIN images i ON i.id = r.image_id
         WHERE r.model = @model AND r.revision = @revision AND r.error IS NULL
           AND (r.upscale <> @upscale OR coalesce(r.working_size, @defaultSize) <> @ws
             OR (@rethreshold AND abs(r.threshold - @threshold) > 1e-9))
         ORDER BY i.path`,
    ).all({
      model: run.model,
      revision: run.revision,
      upscale: run.upscale ?? 'bilinear',
      ws,
      defaultSize: DEFAULT_PROPOSAL_OPTIONS.workingSize,
      rethreshold: rethreshold ? 1 : 0,
      threshold: run.threshold,
    }) as (Omit<RedoImage, 'labels'> & { labels: string })[]
    return rows.map((r) => ({ ...r, labels: JSON.parse(r.labels) as string[] }))
  }

  /** Records that a run could not process an image (unreadable…): a resumed run does not retry it. */
  markRunFailed(imageId: number, run: RunInfo, error: string): void {
    this.transaction(() => {
      this.markRun(imageId, run, error)
      refreshImage(this.db, imageId, false)
    })
  }

  private markRun(imageId: number, run: RunInfo, error: string | null): void {
    this.sql(
      `INSERT INTO runs(image_id, model, revision, threshold, upscale, working_size, error, at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(model, revision, image_id) DO UPDATE SET threshold = excluded.threshold,
           upscale = excluded.upscale, working_size = excluded.working_size, error = excluded.error, at = excluded.at`,
    ).run(
      imageId,
      run.model,
      run.revision,
      run.threshold,
      run.upscale ?? 'bilinear',
      run.workingSize ?? DEFAULT_PROPOSAL_OPTIONS.workingSize,
      error,
      now(),
    )
  }

  /** Failures recorded by runs (image path and message). */
  runErrors(model?: string): { file: string; model: string; error: string }[] {
    return this.sql(
      `SELECT i.path AS file, r.model, r.error FROM runs r JOIN images i ON i.id = r.image_id
         WHERE r.error IS NOT NULL AND (? IS NULL OR r.model = ?) ORDER BY i.path`,
    ).all(model ?? null, model ?? null) as { file: string; model: string; error: string }[]
  }

  /** The stored CAMs of an image (every model revision, or only `run`'s), newest first. */
  cams(imageId: number, run?: Pick<RunInfo, 'model' | 'revision'>): StoredCam[] {
    const rows = this.sql(
      `SELECT c.name AS label, m.model, m.revision, m.width, m.height, m.data, m.confidence, m.source
         FROM cams m JOIN classes c ON c.id = m.class_id WHERE m.image_id = ?
           AND (? IS NULL OR (m.model = ? AND m.revision = ?))
         ORDER BY m.created_at DESC, c.position`,
    ).all(imageId, run?.model ?? null, run?.model ?? null, run?.revision ?? null) as {
      label: string
      model: string
      revision: string
      width: number
      height: number
      data: Buffer
      confidence: number
      source: string
    }[]
    return rows.map((r) => ({
      label: r.label,
      model: r.model,
      revision: r.revision,
      cam: { width: r.width, height: r.height, data: blobToFloats(r.data) },
      confidence: r.confidence,
      source: r.source,
    }))
  }

  // ---- learned heads: feature cache, heads, label mappings (see learning.ts) ------------------

  /** Images without current features under `key` (new, or changed since), path order. */
  imagesMissingFeatures(key: string): FeatureTodo[] {
    return imagesMissingFeatures(this.db, key)
  }

  /** Stores an image's pooled features (or its failure) for the file version `hash`. */
  saveFeatures(
    imageId: number,
    key: string,
    hash: string,
    result: { features: Float32Array } | { error: string },
  ): void {
    saveFeatures(this.db, imageId, key, hash, result)
  }

  /** Cached, failed and missing feature counts under `key`. */
  featureCounts(key: string): FeatureCounts {
    return featureCounts(this.db, key)
  }

  /** Images whose feature extraction failed under `key`, with the reason. */
  featureErrors(key: string): { file: string; error: string }[] {
    return featureErrors(this.db, key)
  }

  /** Labelled images with current features under `key`: a head's training set. */
  featureSamples(key: string): FeatureSample[] {
    return featureSamples(this.db, key)
  }

  /** Stores a learned head (replacing the previous one of its feature key). Returns its id. */
  saveHead(featureKey: string, fingerprint: string, head: LearnedHead): number {
    return saveHead(this.db, featureKey, fingerprint, head)
  }

  /** The stored head of a feature key, or the newest one. */
  head(featureKey?: string): StoredHead | undefined {
    return loadHead(this.db, featureKey)
  }

  /** The user's per-label CAM source choices (absent: auto). */
  labelMappings(): Map<string, LabelMapping> {
    return labelMappings(this.db)
  }

  /**
   * Sets a label's CAM source choice (`auto` removes it); creates the class when new. Returns true
   * when it changed. The next proposal run re-proposes that label's pending proposals.
   */
  setLabelMapping(label: string, mapping: LabelMapping | 'auto'): boolean {
    return this.transaction(() => setLabelMapping(this.db, this.ensureClass(label), mapping))
  }

  /** Images with stored CAMs of a label whose source differs from `current` (label → source key). */
  staleLabelImages(
    model: string,
    revision: string,
    current: ReadonlyMap<string, string>,
  ): { id: number; file: string; labels: string[] }[] {
    return staleLabelImages(this.db, model, revision, current)
  }

  /** Per label, the source kinds (model, learned, agnostic) of its stored CAMs. */
  storedSourceKinds(): Map<string, Set<string>> {
    return storedSourceKinds(this.db)
  }

  // ---- review -------------------------------------------------------------------------------

  /** The review screen's view of an image: labels, boxes (pending proposals and annotations), CAMs. */
  imageDetail(imageId: number): ImageDetail {
    const image = this.image(imageId)
    if (!image) throw new CamlabelError('NOT_FOUND', `No image with id ${imageId} in this project`)
    return {
      image,
      labels: this.labelsOf(imageId),
      boxes: this.boxes(imageId),
      cams: this.cams(imageId),
    }
  }

  /** The boxes of an image: annotations (any status) then pending proposals by score. */
  boxes(imageId: number): ReviewBox[] {
    const anns = this.sql(
      'SELECT a.*, c.name AS label FROM annotations a JOIN classes c ON c.id = a.class_id WHERE a.image_id = ? ORDER BY a.id',
    ).all(imageId) as (AnnotationRow & { label: string })[]
    const props = this.sql(
      `SELECT p.*, c.name AS label FROM proposals p JOIN classes c ON c.id = p.class_id WHERE p.image_id = ?
         AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id) ORDER BY p.score DESC, p.id`,
    ).all(imageId) as (ProposalRow & { label: string })[]
    return [
      ...anns.map((a) => ({
        id: a.key ?? `a${a.id}`,
        label: a.label,
        box: boxOf(a),
        status: a.status,
        score: a.score,
      })),
      ...props.map((p) => ({
        id: `p${p.id}`,
        label: p.label,
        box: boxOf(p),
        status: 'pending' as const,
        score: p.score,
      })),
    ]
  }

  /** Runs a review edit of one image as one transaction and one undoable history entry. */
  private edit<T>(imageId: number, kind: string, fn: () => T): T {
    return this.transaction(() => {
      if (!this.image(imageId))
        throw new CamlabelError('NOT_FOUND', `No image with id ${imageId} in this project`)
      const before = snapshot(this.db, imageId)
      const result = fn()
      const after = snapshot(this.db, imageId)
      refreshImage(this.db, imageId)
      this.sql('DELETE FROM history WHERE undone = 1').run()
      this.sql('INSERT INTO history(image_id, kind, before, after, at) VALUES (?, ?, ?, ?, ?)').run(
        imageId,
        kind,
        JSON.stringify(before),
        JSON.stringify(after),
        now(),
      )
      return result
    })
  }

  private findBox(
    boxId: string,
  ): { kind: 'proposal'; row: ProposalRow } | { kind: 'annotation'; row: AnnotationRow } {
    const p = /^p(\d+)$/.exec(boxId)
    if (p) {
      const row = this.sql('SELECT * FROM proposals WHERE id = ?').get(Number(p[1])) as
        ProposalRow | undefined
      if (row) {
        const ann = this.sql('SELECT * FROM annotations WHERE proposal_id = ?').get(row.id) as
          AnnotationRow | undefined
        return ann ? { kind: 'annotation', row: ann } : { kind: 'proposal', row }
      }
    }
    const a = /^a(\d+)$/.exec(boxId)
    const row = (
      a
        ? this.sql('SELECT * FROM annotations WHERE id = ?').get(Number(a[1]))
        : this.sql('SELECT * FROM annotations WHERE key = ?').get(boxId)
    ) as AnnotationRow | undefined
    if (row) return { kind: 'annotation', row }
    throw new CamlabelError(
      'NOT_FOUND',
      `No box '${boxId}' in this project`,
      'Reload the image; it may have been changed elsewhere.',
    )
  }

  /** The image a box belongs to. */
  imageOfBox(boxId: string): number {
    return this.findBox(boxId).row.image_id
  }

  private decide(
    p: ProposalRow,
    status: AnnotationRow['status'],
    box: Box = boxOf(p),
    classId = p.class_id,
  ): number {
    const ins = this.sql(
      `INSERT INTO annotations(image_id, class_id, x0, y0, x1, y1, status, source, proposal_id, score, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'review', ?, ?, ?)`,
    )
    return Number(
      ins.run(p.image_id, classId, box.x0, box.y0, box.x1, box.y1, status, p.id, p.score, now())
        .lastInsertRowid,
    )
  }

  /** Accepts a pending proposal as is (or re-accepts a rejected one, with the proposal's box). Returns the annotation's box id. */
  acceptProposal(boxId: string): string {
    const found = this.findBox(boxId)
    return this.edit(found.row.image_id, 'accept', () => {
      if (found.kind === 'proposal') return `a${this.decide(found.row, 'accepted')}`
      this.sql(
        "UPDATE annotations SET status = CASE WHEN status = 'rejected' THEN 'accepted' ELSE status END, updated_at = ? WHERE id = ?",
      ).run(now(), found.row.id)
      return found.row.key ?? `a${found.row.id}`
    })
  }

  /** Rejects a proposal (kept as rejected so a re-run does not offer it again), or an accepted/edited box that came from one. */
  rejectProposal(boxId: string): void {
    const found = this.findBox(boxId)
    this.edit(found.row.image_id, 'reject', () => {
      if (found.kind === 'proposal') this.decide(found.row, 'rejected')
      else
        this.sql("UPDATE annotations SET status = 'rejected', updated_at = ? WHERE id = ?").run(
          now(),
          found.row.id,
        )
    })
  }

  /** Accepts every pending proposal of an image. Returns how many. */
  acceptAllPending(imageId: number): number {
    return this.edit(imageId, 'accept-all', () => {
      const pending = this.sql(
        'SELECT * FROM proposals p WHERE image_id = ? AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id)',
      ).all(imageId) as ProposalRow[]
      for (const p of pending) this.decide(p, 'accepted')
      return pending.length
    })
  }

  /** Draws a new box (status manual); its label becomes an image-level label. Returns its box id. */
  addBox(imageId: number, label: string, rawBox: Box, key?: string): string {
    const size = this.imageSize(imageId)
    const box = fitBox(rawBox, size.width, size.height)
    return this.edit(imageId, 'add', () => {
      const classId = this.ensureClass(label)
      this.sql(
        "INSERT OR IGNORE INTO labels(image_id, class_id, source) VALUES (?, ?, 'review')",
      ).run(imageId, classId)
      const id = Number(
        this.sql(
          `INSERT INTO annotations(image_id, class_id, x0, y0, x1, y1, status, source, key, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'manual', 'review', ?, ?)`,
        ).run(imageId, classId, box.x0, box.y0, box.x1, box.y1, key ?? null, now()).lastInsertRowid,
      )
      return key ?? `a${id}`
    })
  }

  /** Moves or resizes a box. A pending or accepted proposal becomes `edited`; a manual box stays manual. */
  updateBox(boxId: string, box: Box): void {
    checkBox(box)
    const size = this.imageSize(this.imageOfBox(boxId))
    this.changeBox(boxId, 'move', fitBox(box, size.width, size.height), undefined)
  }

  /** An image's displayed size. @throws CamlabelError NOT_FOUND */
  private imageSize(imageId: number): { width: number; height: number } {
    const r = this.sql('SELECT width, height FROM images WHERE id = ?').get(imageId) as
      { width: number; height: number } | undefined
    if (!r) throw new CamlabelError('NOT_FOUND', `No image ${imageId} in this project`)
    return r
  }

  /** Changes the class of a box (its new class becomes an image-level label). */
  setBoxLabel(boxId: string, label: string): void {
    this.changeBox(boxId, 'relabel', undefined, label)
  }

  private changeBox(
    boxId: string,
    kind: string,
    box: Box | undefined,
    label: string | undefined,
  ): void {
    const found = this.findBox(boxId)
    this.edit(found.row.image_id, kind, () => {
      const classId = label === undefined ? found.row.class_id : this.ensureClass(label)
      if (label !== undefined) {
        this.sql(
          "INSERT OR IGNORE INTO labels(image_id, class_id, source) VALUES (?, ?, 'review')",
        ).run(found.row.image_id, classId)
      }
      const b = box ?? boxOf(found.row)
      if (found.kind === 'proposal') {
        this.decide(found.row, 'edited', b, classId)
        return
      }
      const status = found.row.status === 'manual' ? 'manual' : 'edited'
      this.sql(
        'UPDATE annotations SET x0 = ?, y0 = ?, x1 = ?, y1 = ?, class_id = ?, status = ?, updated_at = ? WHERE id = ?',
      ).run(b.x0, b.y0, b.x1, b.y1, classId, status, now(), found.row.id)
    })
  }

  /** Deletes a box. A box that came from a proposal becomes rejected (so a re-run does not bring it back). */
  deleteBox(boxId: string): void {
    const found = this.findBox(boxId)
    this.edit(found.row.image_id, 'delete', () => {
      if (found.kind === 'proposal') this.decide(found.row, 'rejected')
      else if (found.row.proposal_id !== null) {
        this.sql("UPDATE annotations SET status = 'rejected', updated_at = ? WHERE id = ?").run(
          now(),
          found.row.id,
        )
      } else this.sql('DELETE FROM annotations WHERE id = ?').run(found.row.id)
    })
  }

  /**
   * Replaces an image's review with a whole state from the review screen (the `image.save` route):
   * pending boxes stay or become proposals (at `threshold`), other boxes become annotations (a box
   * whose id is `p<N>` is the decision on proposal N), and whatever is not in `boxes` is removed.
   * Idempotent, one undoable history entry. Returns the new status and revision.
   */
  saveReview(
    imageId: number,
    state: { threshold: number; boxes: ReviewBox[] },
  ): { status: ImageStatus; revision: number } {
    const size = this.imageSize(imageId)
    state = {
      ...state,
      boxes: state.boxes.map((b) => ({ ...b, box: fitBox(b.box, size.width, size.height) })),
    }
    this.edit(imageId, 'save', () => {
      const before = snapshot(this.db, imageId)
      const props = new Map(before.proposals.map((p) => [`p${p.id}`, p]))
      const anns = new Map(before.annotations.map((a) => [a.key ?? `a${a.id}`, a]))
      const byProposal = new Map(
        before.annotations.filter((a) => a.proposal_id !== null).map((a) => [a.proposal_id!, a]),
      )
      const keepProps = new Set<number>()
      const keepAnns = new Set<number>()
      const lastRun = before.proposals[before.proposals.length - 1]
      const t = now()
      const updA = this.sql(
        'UPDATE annotations SET class_id = ?, x0 = ?, y0 = ?, x1 = ?, y1 = ?, status = ?, score = ?, updated_at = ? WHERE id = ?',
      )
      const updP = this.sql(
        'UPDATE proposals SET class_id = ?, x0 = ?, y0 = ?, x1 = ?, y1 = ?, score = ?, threshold = ? WHERE id = ?',
      )
      for (const [rank, b] of state.boxes.entries()) {
        const classId = this.ensureClass(b.label)
        const p = props.get(b.id)
        if (b.status === 'pending') {
          const existingDecision = p ? byProposal.get(p.id) : undefined
          if (p && !existingDecision) {
            updP.run(
              classId,
              b.box.x0,
              b.box.y0,
              b.box.x1,
              b.box.y1,
              b.score ?? p.score,
              state.threshold,
              p.id,
            )
            keepProps.add(p.id)
          } else {
            const id = this.sql(
              `INSERT INTO proposals(image_id, class_id, x0, y0, x1, y1, score, rank, model, revision, threshold, created_at)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
            ).run(
              imageId,
              classId,
              b.box.x0,
              b.box.y0,
              b.box.x1,
              b.box.y1,
              b.score ?? 0,
              rank,
              lastRun?.model ?? 'review',
              lastRun?.revision ?? '',
              state.threshold,
              t,
            ).lastInsertRowid
            keepProps.add(Number(id))
          }
          continue
        }
        const a = anns.get(b.id) ?? (p ? byProposal.get(p.id) : undefined)
        if (a) {
          updA.run(classId, b.box.x0, b.box.y0, b.box.x1, b.box.y1, b.status, b.score, t, a.id)
          keepAnns.add(a.id)
          if (a.proposal_id !== null) keepProps.add(a.proposal_id)
        } else {
          const id = this.sql(
            `INSERT INTO annotations(image_id, class_id, x0, y0, x1, y1, status, source, proposal_id, score, key, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, 'review', ?, ?, ?, ?)`,
          ).run(
            imageId,
            classId,
            b.box.x0,
            b.box.y0,
            b.box.x1,
            b.box.y1,
            b.status,
            p?.id ?? null,
            b.score,
            p ? null : b.id,
            t,
          ).lastInsertRowid
          keepAnns.add(Number(id))
          if (p) keepProps.add(p.id)
        }
        if (b.status !== 'rejected') {
          this.sql(
            "INSERT OR IGNORE INTO labels(image_id, class_id, source) VALUES (?, ?, 'review')",
          ).run(imageId, classId)
        }
      }
      for (const a of before.annotations)
        if (!keepAnns.has(a.id)) this.sql('DELETE FROM annotations WHERE id = ?').run(a.id)
      for (const p of before.proposals)
        if (!keepProps.has(p.id)) this.sql('DELETE FROM proposals WHERE id = ?').run(p.id)
      this.sql('UPDATE images SET threshold = ? WHERE id = ?').run(state.threshold, imageId)
    })
    const img = this.image(imageId)!
    return { status: img.status, revision: img.revision }
  }

  /** True when there is an edit to undo. */
  canUndo(): boolean {
    return this.sql('SELECT 1 FROM history WHERE undone = 0 LIMIT 1').get() !== undefined
  }

  /** True when there is an undone edit to redo. */
  canRedo(): boolean {
    return this.sql('SELECT 1 FROM history WHERE undone = 1 LIMIT 1').get() !== undefined
  }

  /** Undoes the latest edit (any image). Returns the image it changed and the edit's kind, or undefined when there is nothing to undo. */
  undo(): { imageId: number; kind: string } | undefined {
    return this.replay('undo')
  }

  /** Redoes the earliest undone edit. Returns the image it changed, or undefined when there is nothing to redo. */
  redo(): { imageId: number; kind: string } | undefined {
    return this.replay('redo')
  }

  /**
   * Undo: puts back the latest live edit's `before` state and removes the labels it implied.
   * Redo: puts back the earliest undone edit's `after` state and its labels.
   */
  private replay(way: 'undo' | 'redo'): { imageId: number; kind: string } | undefined {
    const undo = way === 'undo'
    return this.transaction(() => {
      const h = this.sql(
        `SELECT id, image_id, kind, before, after FROM history WHERE undone = ? ORDER BY id ${undo ? 'DESC' : 'ASC'} LIMIT 1`,
      ).get(undo ? 0 : 1) as
        { id: number; image_id: number; kind: string; before: string; after: string } | undefined
      if (!h) return undefined
      const before = JSON.parse(h.before) as Snapshot
      const after = JSON.parse(h.after) as Snapshot
      restore(this.db, h.image_id, undo ? before : after)
      const implied = addedLabels(before, after)
      if (undo) removeImplicitLabels(this.db, h.image_id, implied)
      else restoreImplicitLabels(this.db, h.image_id, implied)
      refreshImage(this.db, h.image_id)
      this.sql('UPDATE history SET undone = ? WHERE id = ?').run(undo ? 1 : 0, h.id)
      return { imageId: h.image_id, kind: h.kind }
    })
  }

  // ---- gallery and counts -------------------------------------------------------------------

  /** A page of the gallery: images matching the filter, in the chosen order, with their labels and boxes, and the total. */
  galleryPage(query: GalleryQuery): { total: number; items: GalleryItem[] } {
    return galleryPage(this.db, query)
  }

  /** Every image id matching a filter, in gallery order (for "next image"). */
  galleryIds(query: GalleryQuery): number[] {
    return galleryIds(this.db, query)
  }

  /** Number of images matching a filter. */
  galleryTotal(query: GalleryQuery): number {
    return galleryTotal(this.db, query)
  }

  /** Image counts per status (optionally within one label). */
  statusCounts(label?: string): Record<ImageStatus, number> {
    return statusCounts(this.db, label)
  }

  /** Counts by image status, box status and class (for `camlabel status` and the summary). */
  counts(): ProjectCounts {
    const boxes: Record<BoxStatus, number> = {
      pending: 0,
      accepted: 0,
      edited: 0,
      manual: 0,
      rejected: 0,
    }
    const a = this.sql('SELECT status, count(*) AS n FROM annotations GROUP BY status').all() as {
      status: BoxStatus
      n: number
    }[]
    for (const r of a) boxes[r.status] = r.n
    boxes.pending = (
      this.sql(
        'SELECT count(*) AS n FROM proposals p WHERE NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id)',
      ).get() as { n: number }
    ).n
    const byClass = this.sql(
      `SELECT c.name AS label,
          (SELECT count(*) FROM labels l WHERE l.class_id = c.id) AS images,
          (SELECT count(*) FROM annotations a WHERE a.class_id = c.id AND a.status != 'rejected') AS kept,
          (SELECT count(*) FROM proposals p WHERE p.class_id = c.id AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id)) AS pending,
          (SELECT count(*) FROM annotations a WHERE a.class_id = c.id AND a.status = 'rejected') AS rejected
         FROM classes c ORDER BY c.position`,
    ).all() as ProjectCounts['byClass']
    return { images: this.imageCount(), byStatus: this.statusCounts(), boxes, byClass }
  }

  // ---- export -------------------------------------------------------------------------------

  /**
   * The project as a dataset for the format writers: every image in path order with its kept
   * boxes (accepted, edited, manual; never rejected) and, when asked, its pending proposals with
   * their scores. Classes in project order.
   */
  toDataset(options: { withProposals?: boolean } = {}): Dataset {
    const classes = this.classes()
    const names = new Map(classes.map((c) => [c.id, c.name]))
    const images = this.sql('SELECT id, path, width, height FROM images ORDER BY path').all() as {
      id: number
      path: string
      width: number
      height: number
    }[]
    const out = new Map<number, DatasetImage>()
    for (const im of images)
      out.set(im.id, { file: im.path, width: im.width, height: im.height, boxes: [], labels: [] })
    for (const l of this.sql('SELECT image_id, class_id FROM labels').all() as {
      image_id: number
      class_id: number
    }[]) {
      out.get(l.image_id)!.labels!.push(names.get(l.class_id)!)
    }
    const kept = this.sql(
      "SELECT image_id, class_id, x0, y0, x1, y1 FROM annotations WHERE status != 'rejected' ORDER BY image_id, id",
    ).all() as Pick<AnnotationRow, 'image_id' | 'class_id' | 'x0' | 'y0' | 'x1' | 'y1'>[]
    for (const k of kept)
      out.get(k.image_id)!.boxes.push({ box: boxOf(k), label: names.get(k.class_id)! })
    if (options.withProposals) {
      const pending = this.sql(
        `SELECT image_id, class_id, x0, y0, x1, y1, score FROM proposals p
           WHERE NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id) ORDER BY image_id, score DESC`,
      ).all() as Pick<ProposalRow, 'image_id' | 'class_id' | 'x0' | 'y0' | 'x1' | 'y1' | 'score'>[]
      for (const p of pending)
        out
          .get(p.image_id)!
          .boxes.push({ box: boxOf(p), label: names.get(p.class_id)!, score: p.score })
    }
    return { classes: classes.map((c) => c.name), images: [...out.values()] }
  }

  // ---- jobs ---------------------------------------------------------------------------------

  /** Records the start of a long job. Returns its id. */
  startJob(kind: string, params: unknown, total: number): number {
    const t = now()
    return Number(
      this.sql(
        "INSERT INTO jobs(kind, params, status, total, started_at, updated_at) VALUES (?, ?, 'running', ?, ?, ?)",
      ).run(kind, JSON.stringify(params), total, t, t).lastInsertRowid,
    )
  }

  /** Updates a job's progress (call inside the transaction that persisted the work, so both agree). */
  progressJob(id: number, done: number, failed: number): void {
    this.sql('UPDATE jobs SET done = ?, failed = ?, updated_at = ? WHERE id = ?').run(
      done,
      failed,
      now(),
      id,
    )
  }

  /** Marks a job finished. */
  finishJob(id: number, status: JobRecord['status'], error?: string): void {
    this.sql('UPDATE jobs SET status = ?, error = ?, updated_at = ? WHERE id = ?').run(
      status,
      error ?? null,
      now(),
      id,
    )
  }

  /** Jobs, newest first (a `running` job of a process that died is one to resume). */
  jobs(kind?: string): JobRecord[] {
    const rows = this.sql('SELECT * FROM jobs WHERE (? IS NULL OR kind = ?) ORDER BY id DESC').all(
      kind ?? null,
      kind ?? null,
    ) as Record<string, unknown>[]
    return rows.map((r) => ({
      id: r.id as number,
      kind: r.kind as string,
      params: JSON.parse(r.params as string),
      status: r.status as JobRecord['status'],
      total: r.total as number,
      done: r.done as number,
      failed: r.failed as number,
      error: r.error as string | null,
      startedAt: r.started_at as number,
      updatedAt: r.updated_at as number,
    }))
  }

  /** `PRAGMA integrity_check` and foreign key check; 'ok' when the file is sound. */
  integrityCheck(): string {
    const r = this.db.pragma('integrity_check', { simple: true }) as string
    const fk = this.db.pragma('foreign_key_check') as unknown[]
    return r === 'ok' && fk.length === 0 ? 'ok' : `${r}; ${fk.length} foreign key violations`
  }
}
