/**
 * The project store: one SQLite file per project (db.ts for durability, schema.ts for tables).
 * This facade is the only way the app, the CLI and the jobs touch a project. It owns the
 * connection, transactions, the meta table and the image root; each table family has its
 * repository:
 *
 * - `images` (images.ts): the image files and their fingerprints;
 * - `labels` (labels.ts): classes, image-level labels, per-label CAM source choices;
 * - `runs` (runs.ts): proposal runs, stored CAMs and proposals;
 * - `review` (review.ts): reviewed boxes, the review screen's save, counts, the export dataset;
 * - `learning` (learning.ts): cached features and learned heads;
 * - `gallery` (gallery.ts): pages, sequences and status counts;
 * - `jobs` (jobs.ts): the job log.
 */
import { isProcessAlive } from '../liveness.ts'
import path from 'node:path'
import { randomBytes } from 'node:crypto'
import { existsSync, linkSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { CamlabelError } from '../../shared/errors.ts'
import { closeDatabase, openDatabase, snapshotNote, type Db, type OpenOptions } from './db.ts'
import { GalleryRepo } from './gallery.ts'
import { ImagesRepo } from './images.ts'
import { JobsRepo } from './jobs.ts'
import { LabelsRepo } from './labels.ts'
import { ReviewCellsRepo } from './reviewCells.ts'
import { LearningRepo } from './learning.ts'
import { ReviewRepo, type ProjectCounts } from './review.ts'
import { RunsRepo } from './runs.ts'
import { preparedStatements, type Prepared } from './statements.ts'

export type { ClassInfo } from './labels.ts'
export type { GalleryItem, GalleryQuery } from './gallery.ts'
export type { ImageRecord, NewImage } from './images.ts'
export type { JobRecord } from './jobs.ts'
export type { FeatureCounts, FeatureSample, FeatureTodo, StoredHead } from './learning.ts'
export type { ProjectCounts, ReviewBox } from './review.ts'
export type { ImageRun, LabelResult, RedoImage, RunInfo, StoredCam } from './runs.ts'

/** The file name an in-memory project reports (one-off runs of `camlabel propose --images`). */
export const IN_MEMORY = ':memory:'

/** The infix of a project file being created (see ProjectStore.create). */
const CREATING = '.creating-'

/** Puts the finished file `tmp` at `abs`, never over an existing file. */
function publish(tmp: string, abs: string, exists: () => CamlabelError): void {
  try {
    linkSync(tmp, abs)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST') throw exists()
    // A file system without hard links (FAT, exFAT): rename, after one more look.
    if (existsSync(abs)) throw exists()
    renameSync(tmp, abs)
  }
}

/** Removes the temporary files of creates of `abs` whose process is gone. */
function sweepCreates(abs: string): void {
  const dir = path.dirname(abs)
  const prefix = path.basename(abs) + CREATING
  let names: string[]
  try {
    names = readdirSync(dir)
  } catch {
    return
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1])
    if (!isProcessAlive(pid)) rmSync(path.join(dir, name), { force: true })
  }
}

export class ProjectStore {
  /** The underlying connection (for tests and advanced queries; prefer the repositories). */
  readonly db: Db
  /** The project file (IN_MEMORY for a project that lives only in this process). */
  readonly file: string
  readonly images: ImagesRepo
  readonly labels: LabelsRepo
  readonly runs: RunsRepo
  readonly review: ReviewRepo
  readonly learning: LearningRepo
  readonly reviewCells: ReviewCellsRepo
  readonly gallery: GalleryRepo
  readonly jobs: JobsRepo
  private readonly sql: Prepared

  private constructor(db: Db, file: string) {
    this.db = db
    this.file = file
    this.sql = preparedStatements(db)
    const tx = <T>(fn: () => T): T => this.transaction(fn)
    this.images = new ImagesRepo(this.sql, tx)
    this.labels = new LabelsRepo(db, this.sql, tx)
    this.runs = new RunsRepo(db, this.sql, tx, this.labels)
    this.review = new ReviewRepo(this.sql, tx, this.images, this.labels)
    this.learning = new LearningRepo(db, this.sql, tx)
    this.reviewCells = new ReviewCellsRepo(db, this.sql)
    this.gallery = new GalleryRepo(this.sql)
    this.jobs = new JobsRepo(this.sql)
  }

  /**
   * Creates a new project file (refuses an existing one) for images under `imageRoot`. The file
   * appears whole or not at all: it is made under a temporary name beside the target (schema,
   * image root) and linked into place, so a create killed at any point leaves no half-made
   * project (the temporaries of killed creates are swept by the next one in that folder).
   * @throws CamlabelError ALREADY_EXISTS when the file exists
   */
  static create(
    file: string,
    imageRoot: string,
    options: Pick<OpenOptions, 'appVersion' | 'migrations'> = {},
  ): ProjectStore {
    const abs = path.resolve(file)
    const exists = () =>
      new CamlabelError(
        'ALREADY_EXISTS',
        `${abs} already exists`,
        'Open it instead, or choose another project path.',
      )
    if (existsSync(abs)) throw exists()
    if (!existsSync(path.dirname(abs)))
      throw new CamlabelError(
        'NOT_FOUND',
        `The folder ${path.dirname(abs)} for the project file does not exist`,
        'Choose a place in an existing folder.',
      )
    sweepCreates(abs)
    const tmp = `${abs}${CREATING}${process.pid}-${randomBytes(4).toString('hex')}`
    try {
      const fresh = new ProjectStore(openDatabase(tmp, { ...options, create: true }), tmp)
      try {
        fresh.setRoot(imageRoot)
      } finally {
        fresh.close()
      }
      publish(tmp, abs, exists)
    } finally {
      for (const f of [tmp, `${tmp}-wal`, `${tmp}-shm`]) rmSync(f, { force: true })
    }
    return ProjectStore.open(abs, options)
  }

  /**
   * A project that lives only in this process (nothing is written to disk): the folder form of
   * `camlabel propose` imports, proposes and exports through it, exactly as a project run does.
   */
  static createInMemory(imageRoot: string): ProjectStore {
    const store = new ProjectStore(openDatabase(IN_MEMORY, { create: true }), IN_MEMORY)
    store.setRoot(imageRoot)
    return store
  }

  /**
   * Opens an existing project, migrating an older schema.
   * @throws CamlabelError NOT_FOUND, PROJECT_TOO_NEW, PARSE_ERROR, PROJECT_BUSY, PATH_OUTSIDE_ROOT
   *   (an image row breaks the path rule of imagePaths.ts: the file was edited outside camlabel)
   */
  static open(file: string, options: Omit<OpenOptions, 'create'> = {}): ProjectStore {
    const abs = path.resolve(file)
    const store = new ProjectStore(openDatabase(abs, options), abs)
    const broken = store.images.brokenPath()
    if (broken) {
      store.close()
      throw new CamlabelError(
        'PATH_OUTSIDE_ROOT',
        `${abs} is refused: image row ${broken.id} names ${JSON.stringify(broken.file)} (${broken.problem})`,
        'The project file was changed outside camlabel; nothing was read. Create the project again from the image folder.',
      )
    }
    return store
  }

  private setRoot(imageRoot: string): void {
    const root = path.resolve(imageRoot)
    this.setMeta('image_root', root)
    const dir = this.file === IN_MEMORY ? root : path.dirname(this.file)
    this.setMeta('image_root_relative', path.relative(dir, root) || '.')
  }

  /** Closes the connection (checkpoints the WAL). */
  close(): void {
    closeDatabase(this.db)
  }

  /** Set when the project was opened read-only from a snapshot (it is on a read-only share). */
  get readOnlyNote(): string | undefined {
    return snapshotNote(this.db)
  }

  /** Runs `fn` in one transaction (nested calls join the outer one as a savepoint). */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)()
  }

  /** A meta value (schema_version, app_version, image_root, created_at, project settings…). */
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

  /** Counts by image status, box status and class (for `camlabel status` and the summary). */
  counts(): ProjectCounts {
    return {
      images: this.images.count(),
      byStatus: this.gallery.statusCounts(),
      ...this.review.counts(),
    }
  }

  /** `PRAGMA integrity_check` and foreign key check; 'ok' when the file is sound. */
  integrityCheck(): string {
    const r = this.db.pragma('integrity_check', { simple: true }) as string
    const fk = this.db.pragma('foreign_key_check') as unknown[]
    return r === 'ok' && fk.length === 0 ? 'ok' : `${r}; ${fk.length} foreign key violations`
  }
}
