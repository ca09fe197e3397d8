/**
 * The images table: one row per image file under the project's image root, with the fingerprint
 * that tells when the file changed and the review columns derived from its boxes (status.ts).
 */
import type { ImageStatus } from '../../shared/contracts/common.ts'
import { CamlabelError } from '../../shared/errors.ts'
import { storedPathProblem } from '../formats/paths.ts'
import { SUSPICIOUS_PATH_SQL } from './imagePaths.ts'
import { naturalKey } from './naturalKey.ts'
import type { Prepared } from './statements.ts'
import { refreshImage } from './status.ts'

/** An image row as stored. */
export interface ImageRecord {
  id: number
  /** Path relative to the image root, posix. */
  file: string
  /** Size as displayed (after EXIF orientation). */
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
export type NewImage = Pick<ImageRecord, 'file' | 'width' | 'height' | 'size' | 'mtimeMs' | 'hash'>

/** What the import knows of a stored image, to skip files that did not change. */
export type KnownImage = Pick<ImageRecord, 'id' | 'width' | 'height' | 'size' | 'mtimeMs' | 'hash'>

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

/** The project's images. */
export class ImagesRepo {
  constructor(
    private readonly sql: Prepared,
    private readonly transaction: <T>(fn: () => T) => T,
  ) {}

  /**
   * Adds images in one transaction. An image already in the project (same path) keeps its row and
   * all review work; if its fingerprint changed, its size and hash are updated and it is listed in
   * `changed`. Returns the id of every given file.
   */
  upsert(images: NewImage[]): { ids: Map<string, number>; added: string[]; changed: string[] } {
    return this.transaction(() => {
      const get = this.sql('SELECT id, hash FROM images WHERE path = ?')
      const ins = this.sql(
        'INSERT INTO images(path, name_key, width, height, size, mtime_ms, hash, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      const upd = this.sql(
        'UPDATE images SET width = ?, height = ?, size = ?, mtime_ms = ?, hash = ? WHERE id = ?',
      )
      const ids = new Map<string, number>()
      const added: string[] = []
      const changed: string[] = []
      const t = Date.now()
      for (const im of images) {
        const old = get.get(im.file) as { id: number; hash: string } | undefined
        if (old) {
          ids.set(im.file, old.id)
          if (old.hash !== im.hash) {
            upd.run(im.width, im.height, im.size, im.mtimeMs, im.hash, old.id)
            changed.push(im.file)
          }
          continue
        }
        const id = ins.run(
          im.file,
          naturalKey(im.file),
          im.width,
          im.height,
          im.size,
          im.mtimeMs,
          im.hash,
          t,
        )
        ids.set(im.file, Number(id.lastInsertRowid))
        added.push(im.file)
      }
      return { ids, added, changed }
    })
  }

  /** One image by id, or undefined. */
  get(id: number): ImageRecord | undefined {
    const r = this.sql('SELECT * FROM images WHERE id = ?').get(id) as
      Record<string, unknown> | undefined
    return r ? rowToImage(r) : undefined
  }

  /** One image by id. @throws CamlabelError NOT_FOUND */
  require(id: number): ImageRecord {
    const image = this.get(id)
    if (!image) throw new CamlabelError('NOT_FOUND', `No image with id ${id} in this project`)
    return image
  }

  /** One image by its path relative to the root, or undefined. */
  byFile(file: string): ImageRecord | undefined {
    const r = this.sql('SELECT * FROM images WHERE path = ?').get(file) as
      Record<string, unknown> | undefined
    return r ? rowToImage(r) : undefined
  }

  /** Every image path → fingerprint (for re-import: skip unchanged files without reading them). */
  known(): Map<string, KnownImage> {
    const rows = this.sql(
      'SELECT id, path, size, mtime_ms AS mtimeMs, hash, width, height FROM images',
    ).all() as (KnownImage & { path: string })[]
    return new Map(rows.map(({ path, ...k }) => [path, k]))
  }

  /** Every image with its fingerprint, path order (to check the files before a run or export). */
  all(): Pick<ImageRecord, 'id' | 'file' | 'size' | 'mtimeMs' | 'hash'>[] {
    return this.sql(
      'SELECT id, path AS file, size, mtime_ms AS mtimeMs, hash FROM images ORDER BY path',
    ).all() as Pick<ImageRecord, 'id' | 'file' | 'size' | 'mtimeMs' | 'hash'>[]
  }

  /**
   * Records that an image's file changed on disk since its import: its new size and fingerprint,
   * and nothing left of the old content's proposals — run marks, CAMs and pending proposals go, so
   * the next run proposes it again. Decided boxes stay, clipped to the new size.
   */
  markChanged(
    id: number,
    fp: Pick<ImageRecord, 'width' | 'height' | 'size' | 'mtimeMs' | 'hash'>,
  ): void {
    this.transaction(() => {
      this.sql(
        'UPDATE images SET width = ?, height = ?, size = ?, mtime_ms = ?, hash = ? WHERE id = ?',
      ).run(fp.width, fp.height, fp.size, fp.mtimeMs, fp.hash, id)
      this.sql('DELETE FROM runs WHERE image_id = ?').run(id)
      this.sql('DELETE FROM cams WHERE image_id = ?').run(id)
      this.sql(
        'DELETE FROM proposals WHERE image_id = ? AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = proposals.id)',
      ).run(id)
      this.sql(
        `UPDATE annotations SET x0 = min(max(x0, 0), @w), y0 = min(max(y0, 0), @h),
           x1 = min(max(x1, 0), @w), y1 = min(max(y1, 0), @h)
         WHERE image_id = @id AND min(max(x1, 0), @w) > min(max(x0, 0), @w)
           AND min(max(y1, 0), @h) > min(max(y0, 0), @h)`,
      ).run({ id, w: fp.width, h: fp.height })
      refreshImage(this.sql, id)
    })
  }

  /** A file touched without a change of content: its new size and time, so it is not read again. */
  touch(id: number, fp: Pick<ImageRecord, 'size' | 'mtimeMs'>): void {
    this.sql('UPDATE images SET size = ?, mtime_ms = ? WHERE id = ?').run(fp.size, fp.mtimeMs, id)
  }

  /** The first stored image path that breaks the path rule (see imagePaths.ts), if any. */
  brokenPath(): { id: number; file: string; problem: string } | undefined {
    const rows = this.sql(`SELECT id, path FROM images WHERE ${SUSPICIOUS_PATH_SQL}`).all() as {
      id: number
      path: string
    }[]
    for (const r of rows) {
      const problem = storedPathProblem(r.path)
      if (problem) return { id: r.id, file: r.path, problem }
    }
    return undefined
  }

  /** Number of images. */
  count(): number {
    return (this.sql('SELECT count(*) AS n FROM images').get() as { n: number }).n
  }
}
