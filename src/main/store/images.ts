/**
 * The images table: one row per image file under the project's image root, with the fingerprint
 * that tells when the file changed and the review columns derived from its boxes (status.ts).
 */
import type { ImageStatus } from '../../shared/contracts/common.ts'
import { CamlabelError } from '../../shared/errors.ts'
import type { Prepared } from './statements.ts'

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
        'INSERT INTO images(path, width, height, size, mtime_ms, hash, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
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
        const id = ins.run(im.file, im.width, im.height, im.size, im.mtimeMs, im.hash, t)
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

  /** Number of images. */
  count(): number {
    return (this.sql('SELECT count(*) AS n FROM images').get() as { n: number }).n
  }
}
