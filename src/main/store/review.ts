/**
 * The review state of one image — its proposals and annotations — and what is derived from it:
 * the image's gallery status, its lowest pending score, and the snapshots undo/redo restore.
 * Functions here run inside the caller's transaction.
 */
import type { Db } from './db.ts'
import type { ImageStatus } from '../../shared/contracts/common.ts'

export interface ProposalRow {
  id: number
  image_id: number
  class_id: number
  x0: number
  y0: number
  x1: number
  y1: number
  score: number
  rank: number
  model: string
  revision: string
  threshold: number
  created_at: number
}

export interface AnnotationRow {
  id: number
  image_id: number
  class_id: number
  x0: number
  y0: number
  x1: number
  y1: number
  status: 'accepted' | 'edited' | 'manual' | 'rejected'
  source: 'review' | 'import'
  proposal_id: number | null
  score: number | null
  key: string | null
  updated_at: number
}

/** Everything undo needs to put an image's review back. */
export interface Snapshot {
  proposals: ProposalRow[]
  annotations: AnnotationRow[]
  threshold: number | null
  /** The image's label class ids (absent in history written before labels were recorded). */
  labels?: number[]
}

/** Reads an image's review state. */
export function snapshot(db: Db, imageId: number): Snapshot {
  const proposals = db
    .prepare('SELECT * FROM proposals WHERE image_id = ? ORDER BY id')
    .all(imageId) as ProposalRow[]
  const annotations = db
    .prepare('SELECT * FROM annotations WHERE image_id = ? ORDER BY id')
    .all(imageId) as AnnotationRow[]
  const img = db.prepare('SELECT threshold FROM images WHERE id = ?').get(imageId) as
    { threshold: number | null } | undefined
  const labels = db
    .prepare('SELECT class_id FROM labels WHERE image_id = ? ORDER BY class_id')
    .pluck()
    .all(imageId) as number[]
  return { proposals, annotations, threshold: img?.threshold ?? null, labels }
}

/** Class ids an edit added as image-level labels (in `after`, not in `before`). */
export function addedLabels(before: Snapshot, after: Snapshot): number[] {
  const had = new Set(before.labels ?? [])
  return (after.labels ?? []).filter((c) => !had.has(c))
}

/**
 * After undoing an edit: removes the image-level labels that edit implicitly added (source
 * 'review'), unless a box of that class is still in the image — a label the user or an import
 * gave explicitly has another source and stays.
 */
export function removeImplicitLabels(db: Db, imageId: number, classIds: number[]): void {
  const del = db.prepare(
    `DELETE FROM labels WHERE image_id = @image AND class_id = @cls AND source = 'review'
       AND NOT EXISTS (SELECT 1 FROM annotations WHERE image_id = @image AND class_id = @cls AND status != 'rejected')
       AND NOT EXISTS (SELECT 1 FROM proposals WHERE image_id = @image AND class_id = @cls)`,
  )
  for (const cls of classIds) del.run({ image: imageId, cls })
}

/** After redoing an edit: puts back the image-level labels it had added. */
export function restoreImplicitLabels(db: Db, imageId: number, classIds: number[]): void {
  const ins = db.prepare(
    "INSERT OR IGNORE INTO labels(image_id, class_id, source) VALUES (?, ?, 'review')",
  )
  for (const cls of classIds) ins.run(imageId, cls)
}

const P_COLS = [
  'id',
  'image_id',
  'class_id',
  'x0',
  'y0',
  'x1',
  'y1',
  'score',
  'rank',
  'model',
  'revision',
  'threshold',
  'created_at',
] as const
const A_COLS = [
  'id',
  'image_id',
  'class_id',
  'x0',
  'y0',
  'x1',
  'y1',
  'status',
  'source',
  'proposal_id',
  'score',
  'key',
  'updated_at',
] as const

/** Replaces an image's review state with a snapshot (ids included). */
export function restore(db: Db, imageId: number, s: Snapshot): void {
  db.prepare('DELETE FROM annotations WHERE image_id = ?').run(imageId)
  db.prepare('DELETE FROM proposals WHERE image_id = ?').run(imageId)
  const ip = db.prepare(
    `INSERT INTO proposals (${P_COLS.join(',')}) VALUES (${P_COLS.map((c) => '@' + c).join(',')})`,
  )
  for (const p of s.proposals) ip.run(p)
  const ia = db.prepare(
    `INSERT INTO annotations (${A_COLS.join(',')}) VALUES (${A_COLS.map((c) => '@' + c).join(',')})`,
  )
  for (const a of s.annotations) ia.run(a)
  db.prepare('UPDATE images SET threshold = ? WHERE id = ?').run(s.threshold, imageId)
}

/** Counts behind an image's status. */
export interface ReviewCounts {
  pending: number
  minPending: number | null
  kept: number
  changed: number
  rejected: number
  proposals: number
  processed: number
}

/**
 * The gallery status of an image (pure): `pending` while a proposal awaits a decision;
 * `unproposed` when no run processed it and it has no boxes; `rejected` when every box was refused
 * (or a run found nothing and nobody drew one, which still needs a look: pending); `edited` when any
 * kept box was changed or drawn by hand; `accepted` otherwise.
 */
export function imageStatus(c: ReviewCounts): ImageStatus {
  if (c.pending > 0) return 'pending'
  if (c.kept === 0) {
    if (c.rejected > 0) return 'rejected'
    return c.processed > 0 ? 'pending' : 'unproposed'
  }
  return c.changed > 0 ? 'edited' : 'accepted'
}

/** Recomputes an image's derived gallery columns and bumps its revision. */
export function refreshImage(db: Db, imageId: number, bumpRevision = true): ImageStatus {
  const c = db
    .prepare(
      `SELECT
        (SELECT count(*) FROM proposals p WHERE p.image_id = @id AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id)) AS pending,
        (SELECT min(score) FROM proposals p WHERE p.image_id = @id AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id)) AS minPending,
        (SELECT count(*) FROM annotations WHERE image_id = @id AND status != 'rejected') AS kept,
        (SELECT count(*) FROM annotations WHERE image_id = @id AND status IN ('edited', 'manual') AND source = 'review') AS changed,
        (SELECT count(*) FROM annotations WHERE image_id = @id AND status = 'rejected') AS rejected,
        (SELECT count(*) FROM proposals WHERE image_id = @id) AS proposals,
        (SELECT count(*) FROM runs WHERE image_id = @id) AS processed`,
    )
    .get({ id: imageId }) as ReviewCounts
  const status = imageStatus(c)
  db.prepare(
    `UPDATE images SET status = ?, min_score = ?, score_key = ?, revision = revision + ? WHERE id = ?`,
  ).run(status, c.minPending, c.minPending ?? 2, bumpRevision ? 1 : 0, imageId)
  return status
}
