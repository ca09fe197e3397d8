/**
 * The store's part of learning from reviewed boxes: the reviewed images with their kept boxes, and
 * a cache of their feature cells and CAMs (review_cells, schema 8), so an update after one more
 * reviewed image runs the model on that image only.
 */
import type { Box } from '../../shared/box.ts'
import type { Map2D } from '../../shared/cam/types.ts'
import type { FeatureMaps } from '../engine/types.ts'
import { halfValue } from '../engine/float16.ts'
import { blobToFloats, floatsToBlob, floatsToHalfBlob, halfBlobToFloats } from './blobs.ts'
import { boxOf } from './boxRules.ts'
import type { Db } from './db.ts'
import { hasTable } from './labels.ts'
import { REVIEWED_SQL } from './review.ts'
import type { Prepared } from './statements.ts'

/**
 * The images proposals learn from (SQL, over images `i`): reviewed ones (every proposal decided),
 * and those with imported boxes (a dataset's boxes are complete by convention, even while the
 * image's own proposals wait for review). Their boxes are the user's: never re-proposed from reviews.
 */
export const LEARNED_FROM_SQL = `(i.status IN ${REVIEWED_SQL} OR EXISTS
  (SELECT 1 FROM annotations a WHERE a.image_id = i.id AND a.source = 'import' AND a.status != 'rejected'))`

/** An image proposals learn from (see LEARNED_FROM_SQL) with the boxes the user kept. */
export interface ReviewedRow {
  id: number
  file: string
  hash: string
  width: number
  height: number
  labels: string[]
  /** Kept boxes (accepted, edited, drawn, imported); none for a reviewed negative. */
  boxes: { label: string; box: Box }[]
}

/** A reviewed image's cached feature cells and label CAMs. */
export interface CachedCells {
  features: FeatureMaps
  cams: Map<string, Map2D>
}

/** Cached cells as stored: float16 features (little-endian), CAMs as JSON. */
export interface EncodedCells {
  channels: number
  height: number
  width: number
  data: Buffer
  cams: string
}

/** All the features of cached cells, [C, h, w]. */
export function decodeFeatures(e: EncodedCells): FeatureMaps {
  return { channels: e.channels, height: e.height, width: e.width, data: halfBlobToFloats(e.data) }
}

/**
 * The features of a few cells, row-major [cells × C]: an update samples a few cells of most
 * reviewed images, and decoding only those keeps it flat as the reviews grow.
 */
export function decodeRows(e: EncodedCells, cells: readonly number[]): Float32Array {
  const C = e.channels
  const plane = e.height * e.width
  const out = new Float32Array(cells.length * C)
  cells.forEach((cell, k) => {
    for (let c = 0; c < C; c++)
      out[k * C + c] = halfValue(e.data.readUInt16LE(2 * (c * plane + cell)))
  })
  return out
}

/** The labels' CAMs of cached cells. */
export function decodeCams(e: EncodedCells): Map<string, Map2D> {
  const cams = new Map<string, Map2D>()
  for (const [label, [width, height, b64]] of Object.entries(
    JSON.parse(e.cams) as Record<string, [number, number, string]>,
  ))
    cams.set(label, { width, height, data: blobToFloats(Buffer.from(b64, 'base64')) })
  return cams
}

/** The cells of a sample pool and their targets. */
export interface PoolCells {
  cells: number[]
  targets: number[]
}

/** A cached image's map size, and its sample pool when one is stored. */
export interface StoredPool {
  channels: number
  height: number
  width: number
  pool?: PoolCells & { key: string; rows: Buffer }
}

/** Rows of a sample pool ([k × C] float16), the ones of `cells` in that order, as float32. */
export function poolRows(
  pool: PoolCells & { rows: Buffer },
  channels: number,
  cells: readonly number[],
): Float32Array | undefined {
  const index = new Map(pool.cells.map((c, k) => [c, k]))
  const out = new Float32Array(cells.length * channels)
  for (let k = 0; k < cells.length; k++) {
    const at = index.get(cells[k]!)
    if (at === undefined) return undefined
    for (let c = 0; c < channels; c++)
      out[k * channels + c] = halfValue(pool.rows.readUInt16LE(2 * (at * channels + c)))
  }
  return out
}

export class ReviewCellsRepo {
  constructor(
    private readonly db: Db,
    private readonly sql: Prepared,
  ) {}

  private get present(): boolean {
    return hasTable(this.db, 'review_cells')
  }

  /** The reviewed images and their kept boxes, by id. */
  reviewed(): ReviewedRow[] {
    const rows = this.sql(
      `SELECT i.id, i.path AS file, i.hash, i.width, i.height,
         (SELECT json_group_array(c.name) FROM labels l JOIN classes c ON c.id = l.class_id WHERE l.image_id = i.id) AS labels,
         (SELECT json_group_array(json_array(c.name, a.x0, a.y0, a.x1, a.y1)) FROM annotations a JOIN classes c ON c.id = a.class_id
            WHERE a.image_id = i.id AND a.status != 'rejected') AS boxes
       FROM images i WHERE ${LEARNED_FROM_SQL} ORDER BY i.id`,
    ).all() as (Omit<ReviewedRow, 'labels' | 'boxes'> & { labels: string; boxes: string })[]
    return rows.map((r) => ({
      ...r,
      labels: JSON.parse(r.labels) as string[],
      boxes: (JSON.parse(r.boxes) as [string, number, number, number, number][]).map(
        ([label, x0, y0, x1, y1]) => ({ label, box: boxOf({ x0, y0, x1, y1 }) }),
      ),
    }))
  }

  /** How many of the images proposals learn from have boxes (one indexed count, for status). */
  boxedCount(): number {
    return this.sql(
      `SELECT count(*) FROM images i WHERE ${LEARNED_FROM_SQL}
         AND EXISTS (SELECT 1 FROM annotations a WHERE a.image_id = i.id AND a.status != 'rejected')`,
    )
      .pluck()
      .get() as number
  }

  /** Ids of the images proposals learn from. */
  reviewedIds(): Set<number> {
    return new Set(
      this.sql(`SELECT i.id FROM images i WHERE ${LEARNED_FROM_SQL}`).pluck().all() as number[],
    )
  }

  /** Ids of the images with cells under `key` for their current file version. */
  cachedIds(key: string): Set<number> {
    if (!this.present) return new Set()
    return new Set(
      this.sql(
        'SELECT r.image_id FROM review_cells r JOIN images i ON i.id = r.image_id AND i.hash = r.hash WHERE r.key = ?',
      )
        .pluck()
        .all(key) as number[],
    )
  }

  /**
   * One image's cached cells under `key`, if current, still encoded: an update decodes the few
   * cells it samples of most images, and everything only of the images it scores (see decodeCells).
   */
  get(key: string, imageId: number): EncodedCells | undefined {
    if (!this.present) return undefined
    return this.sql(
      `SELECT r.channels, r.height, r.width, r.data, r.cams FROM review_cells r
         JOIN images i ON i.id = r.image_id AND i.hash = r.hash WHERE r.key = ? AND r.image_id = ?`,
    ).get(key, imageId) as EncodedCells | undefined
  }

  /**
   * Stores one image's cells (as float16: half the size, and the head's inputs are ReLU outputs
   * that need no more precision) and its labels' CAMs.
   */
  save(key: string, imageId: number, hash: string, cells: CachedCells): void {
    const cams = Object.fromEntries(
      [...cells.cams].map(([label, c]) => [
        label,
        [c.width, c.height, floatsToBlob(c.data).toString('base64')],
      ]),
    )
    this.sql(
      `INSERT INTO review_cells(image_id, key, hash, channels, height, width, data, cams, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(key, image_id) DO UPDATE SET hash = excluded.hash, channels = excluded.channels,
           height = excluded.height, width = excluded.width, data = excluded.data, cams = excluded.cams,
           pool_key = NULL, pool_cells = NULL, pool = NULL, created_at = excluded.created_at`,
    ).run(
      imageId,
      key,
      hash,
      cells.features.channels,
      cells.features.height,
      cells.features.width,
      floatsToHalfBlob(cells.features.data),
      JSON.stringify(cams),
      Date.now(),
    )
  }

  /**
   * One image's sample pool under `key` (see the schema: a few cells, read without the full map),
   * with the map's size; `pool` is absent until savePool stored one.
   */
  pool(key: string, imageId: number): StoredPool | undefined {
    if (!this.present) return undefined
    const r = this.sql(
      `SELECT r.channels, r.height, r.width, r.pool_key AS poolKey, r.pool_cells AS cells, r.pool FROM review_cells r
         JOIN images i ON i.id = r.image_id AND i.hash = r.hash WHERE r.key = ? AND r.image_id = ?`,
    ).get(key, imageId) as
      | (Omit<StoredPool, 'pool'> & {
          poolKey: string | null
          cells: string | null
          pool: Buffer | null
        })
      | undefined
    if (!r) return undefined
    const { poolKey, cells, pool, ...size } = r
    return poolKey && cells && pool
      ? {
          ...size,
          pool: { key: poolKey, ...(JSON.parse(cells) as PoolCells), rows: pool },
        }
      : size
  }

  /** Stores an image's sample pool: `rows` [cells × C] for the boxes `poolKey` names. */
  savePool(
    key: string,
    imageId: number,
    poolKey: string,
    cells: PoolCells,
    rows: Float32Array,
  ): void {
    this.sql(
      'UPDATE review_cells SET pool_key = ?, pool_cells = ?, pool = ? WHERE key = ? AND image_id = ?',
    ).run(poolKey, JSON.stringify(cells), floatsToHalfBlob(rows), key, imageId)
  }

  /** Drops cells under other keys and of images no longer reviewed (the cache stays small). */
  prune(key: string): void {
    if (!this.present) return
    this.sql(
      `DELETE FROM review_cells WHERE key <> ? OR image_id IN
         (SELECT i.id FROM images i WHERE NOT ${LEARNED_FROM_SQL})`,
    ).run(key)
  }
}
