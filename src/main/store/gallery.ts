/**
 * Gallery queries over the images table: a filter (image status, label), a sort (name, or lowest
 * pending proposal score first so doubtful images come first; images with nothing pending last),
 * OFFSET paging and counts. Every filter/sort pair is served by an index (schema.ts), so a page is
 * a short index walk even at 100 000 images; the benchmark (bench/store.bench.ts) measures it.
 */
import type { Box } from '../../shared/box.ts'
import type { BoxStatus, ImageStatus } from '../../shared/contracts/common.ts'
import type { Prepared } from './statements.ts'

/** What the gallery asks for. */
export interface GalleryQuery {
  status?: ImageStatus
  /** A class name: images with this image-level label. */
  label?: string
  /** Only images the last run could not read. */
  unreadable?: boolean
  /** Only images whose path holds this text (case-insensitive for ASCII, as SQLite's LIKE). */
  search?: string
  sort?: 'name' | 'score'
  offset?: number
  limit?: number
}

/** A box as the gallery thumbnails draw it. */
export interface GalleryBox {
  box: Box
  status: BoxStatus
  label: string
}

/** One image of a gallery page. */
export interface GalleryItem {
  id: number
  file: string
  width: number
  height: number
  status: ImageStatus
  labels: string[]
  minScore: number | null
  boxes: GalleryBox[]
  /** Why the last run could not read the image (null: it could, or none ran). */
  error: string | null
}

/**
 * The error of an image's latest run when that run failed (a later successful run of any model
 * clears it), as an SQL expression over `i`.
 */
const LAST_ERROR_SQL = `(SELECT r.error FROM runs r WHERE r.image_id = i.id ORDER BY r.at DESC LIMIT 1)`

function where(q: GalleryQuery): { sql: string; params: unknown[]; join: string } {
  const parts: string[] = []
  const params: unknown[] = []
  let join = ''
  if (q.label !== undefined) {
    join =
      'JOIN labels l ON l.image_id = i.id AND l.class_id = (SELECT id FROM classes WHERE name = ?)'
    params.push(q.label)
  }
  if (q.status !== undefined) {
    parts.push('i.status = ?')
    params.push(q.status)
  }
  if (q.unreadable) parts.push(`${LAST_ERROR_SQL} IS NOT NULL`)
  if (q.search) {
    parts.push("i.path LIKE ? ESCAPE '\\'")
    params.push(`%${q.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
  }
  return { sql: parts.length ? 'WHERE ' + parts.join(' AND ') : '', params, join }
}

function orderBy(q: GalleryQuery): string {
  return q.sort === 'score'
    ? 'ORDER BY i.score_key, i.name_key, i.path'
    : 'ORDER BY i.name_key, i.path'
}

/** The gallery's pages, sequences and counts. */
export class GalleryRepo {
  constructor(private readonly sql: Prepared) {}

  /** Number of images matching the filter. */
  total(q: GalleryQuery): number {
    if (q.label !== undefined && q.status === undefined && !q.unreadable && !q.search) {
      // Every labels row has its image (foreign key, ON DELETE CASCADE): counting the label's
      // index range skips one image lookup per row (100 000 images, a 10 % label: 9.5 → 0.3 ms).
      return (
        this.sql(
          'SELECT count(*) AS n FROM labels WHERE class_id = (SELECT id FROM classes WHERE name = ?)',
        ).get(q.label) as { n: number }
      ).n
    }
    const w = where(q)
    return (
      this.sql(`SELECT count(*) AS n FROM images i ${w.join} ${w.sql}`).get(...w.params) as {
        n: number
      }
    ).n
  }

  /** Ids of every image matching the filter, in gallery order (the "next image" sequence). */
  ids(q: GalleryQuery): number[] {
    const w = where(q)
    return this.sql(`SELECT i.id FROM images i ${w.join} ${w.sql} ${orderBy(q)}`)
      .pluck()
      .all(...w.params) as number[]
  }

  /** A page of images with their labels and boxes (pending proposals and kept/rejected annotations). */
  page(q: GalleryQuery): { total: number; items: GalleryItem[] } {
    const w = where(q)
    const limit = Math.max(1, Math.min(q.limit ?? 200, 1000))
    const offset = Math.max(0, q.offset ?? 0)
    const rows = this.sql(
      `SELECT i.id, i.path AS file, i.width, i.height, i.status, i.min_score AS minScore,
         ${LAST_ERROR_SQL} AS error
       FROM images i ${w.join} ${w.sql} ${orderBy(q)} LIMIT ? OFFSET ?`,
    ).all(...w.params, limit, offset) as Omit<GalleryItem, 'labels' | 'boxes'>[]
    const items: GalleryItem[] = rows.map((r) => ({ ...r, labels: [], boxes: [] }))
    if (items.length > 0) {
      const byId = new Map(items.map((it) => [it.id, it]))
      const ids = JSON.stringify(items.map((it) => it.id))
      const labels = this.sql(
        `SELECT l.image_id AS id, c.name FROM labels l JOIN classes c ON c.id = l.class_id
         WHERE l.image_id IN (SELECT value FROM json_each(?)) ORDER BY c.position`,
      ).all(ids) as { id: number; name: string }[]
      for (const l of labels) byId.get(l.id)!.labels.push(l.name)
      const boxes = this.sql(
        `SELECT a.image_id AS id, a.x0, a.y0, a.x1, a.y1, a.status, c.name AS label
           FROM annotations a JOIN classes c ON c.id = a.class_id
           WHERE a.image_id IN (SELECT value FROM json_each(?))
         UNION ALL
         SELECT p.image_id, p.x0, p.y0, p.x1, p.y1, 'pending', c.name
           FROM proposals p JOIN classes c ON c.id = p.class_id
           WHERE p.image_id IN (SELECT value FROM json_each(?))
             AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id)`,
      ).all(ids, ids) as {
        id: number
        x0: number
        y0: number
        x1: number
        y1: number
        status: BoxStatus
        label: string
      }[]
      for (const b of boxes) {
        byId.get(b.id)!.boxes.push({
          box: { x0: b.x0, y0: b.y0, x1: b.x1, y1: b.y1 },
          status: b.status,
          label: b.label,
        })
      }
    }
    return { total: this.total(q), items }
  }

  /** Images the last run could not read. */
  unreadableCount(): number {
    return (
      this.sql(`SELECT count(*) AS n FROM images i WHERE ${LAST_ERROR_SQL} IS NOT NULL`).get() as {
        n: number
      }
    ).n
  }

  /** Image counts per status, optionally within one label. */
  statusCounts(label?: string): Record<ImageStatus, number> {
    const out: Record<ImageStatus, number> = {
      unproposed: 0,
      pending: 0,
      accepted: 0,
      edited: 0,
      rejected: 0,
    }
    const w = where({ label })
    const rows = this.sql(
      `SELECT i.status, count(*) AS n FROM images i ${w.join} GROUP BY i.status`,
    ).all(...w.params) as {
      status: ImageStatus
      n: number
    }[]
    for (const r of rows) out[r.status] = r.n
    return out
  }
}
