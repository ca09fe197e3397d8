/**
 * The rows of an image's review — proposals and annotations — and what is derived from them: the
 * image's gallery status, its lowest pending score, its revision. Kept in step inside the
 * transaction of every change, so the gallery reads one indexed table.
 */
import type { Box } from '../../shared/box.ts'
import type { ImageStatus } from '../../shared/contracts/common.ts'
import type { Prepared } from './statements.ts'

/** A proposals row: a box a CAM run proposed. Pending while no annotation refers to it. */
export interface ProposalRow extends Box {
  id: number
  image_id: number
  class_id: number
  score: number
  rank: number
  model: string
  revision: string
  threshold: number
  created_at: number
}

/** An annotations row: a reviewed box (kept, changed, drawn, imported or rejected). */
export interface AnnotationRow extends Box {
  id: number
  image_id: number
  class_id: number
  status: 'accepted' | 'edited' | 'manual' | 'rejected'
  source: 'review' | 'import'
  proposal_id: number | null
  score: number | null
  key: string | null
  /** JSON of the box's attributes (difficult, truncated, occluded, pose), or null. */
  attributes: string | null
  updated_at: number
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

/** Recomputes an image's derived gallery columns and (by default) bumps its revision. */
export function refreshImage(sql: Prepared, imageId: number, bumpRevision = true): ImageStatus {
  const c = sql(
    `SELECT
      (SELECT count(*) FROM proposals p WHERE p.image_id = @id AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id)) AS pending,
      (SELECT min(score) FROM proposals p WHERE p.image_id = @id AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id)) AS minPending,
      (SELECT count(*) FROM annotations WHERE image_id = @id AND status != 'rejected') AS kept,
      (SELECT count(*) FROM annotations WHERE image_id = @id AND status IN ('edited', 'manual') AND source = 'review') AS changed,
      (SELECT count(*) FROM annotations WHERE image_id = @id AND status = 'rejected') AS rejected,
      (SELECT count(*) FROM proposals WHERE image_id = @id) AS proposals,
      (SELECT count(*) FROM runs WHERE image_id = @id) AS processed`,
  ).get({ id: imageId }) as ReviewCounts
  const status = imageStatus(c)
  sql(
    'UPDATE images SET status = ?, min_score = ?, score_key = ?, revision = revision + ? WHERE id = ?',
  ).run(status, c.minPending, c.minPending ?? 2, bumpRevision ? 1 : 0, imageId)
  return status
}
