/**
 * The review of an image: the boxes the review screen shows (annotations, then pending proposals)
 * and the one way the app changes them, `save` — the renderer owns undo and sends whole states.
 * Also boxes brought in by an import, the project's counts, and the project as a dataset for the
 * format writers.
 */
import type { Box } from '../../shared/box.ts'
import type { BoxStatus, ImageStatus } from '../../shared/contracts/common.ts'
import { isBackgroundLabel } from '../../shared/labels.ts'
import type { BoxAttributes, Dataset, DatasetBox, DatasetImage } from '../formats/dataset.ts'
import { boxOf, fitBox } from './boxRules.ts'
import type { ImagesRepo } from './images.ts'
import type { LabelsRepo } from './labels.ts'
import type { Prepared } from './statements.ts'
import { refreshImage, type AnnotationRow, type ProposalRow } from './status.ts'

/**
 * A box of the review screen (the contracts' ReviewBox). Ids: `p<N>` a pending proposal, `a<N>`
 * an annotation, or the renderer's own key for boxes it created (kept across saves).
 */
export interface ReviewBox {
  id: string
  label: string
  box: Box
  status: BoxStatus
  score: number | null
  attributes?: BoxAttributes
}

/** Which images `dataset()` holds (by default the reviewed ones, see isReviewed). */
export interface DatasetOptions {
  /** Also pending proposals (with their score), and the images that have them. */
  withProposals?: boolean
  /** Also images not reviewed yet, with the boxes they have (none, mostly): negatives. */
  unreviewed?: boolean
  /** Exactly these images, whatever their review. */
  only?: ReadonlySet<number>
}

/** Image and box counts behind an export's choices (see `exportCounts`). */
export interface ExportCounts {
  /** Images reviewed: every box decided, at least one decision (rejecting all is a negative). */
  reviewed: number
  /** Kept boxes of reviewed images. */
  reviewedBoxes: number
  unreviewed: number
  /** Kept boxes on images still under review (imported, or decided among pending ones). */
  unreviewedBoxes: number
  pendingProposals: number
  /** Images with a pending proposal. */
  pendingImages: number
}

/**
 * Whether an image counts as reviewed for an export: its status is accepted, edited or rejected
 * (no proposal awaits a decision, and someone decided — or it came with boxes from an import).
 * An image whose every box was rejected is a reviewed negative.
 */
export function isReviewed(status: ImageStatus): boolean {
  return REVIEWED_STATUSES.includes(status)
}

const REVIEWED_STATUSES: readonly ImageStatus[] = ['accepted', 'edited', 'rejected']

/** isReviewed as SQL, the status list for `IN` (the store's queries use it, never their own). */
export const REVIEWED_SQL = `(${REVIEWED_STATUSES.map((s) => `'${s}'`).join(', ')})`

/** Attributes as stored: JSON of the keys that are set, or null for none. */
export function storedAttributes(a: BoxAttributes | undefined): string | null {
  if (!a) return null
  const kept = Object.fromEntries(
    Object.entries(a).filter(([, v]) => v !== undefined && v !== false && v !== 'Unspecified'),
  )
  return Object.keys(kept).length ? JSON.stringify(kept) : null
}

/**
 * A dataset's classes: the project's in its order, 'background' (negatives, never boxed) only
 * when some image has a box of it.
 */
function datasetClasses(
  names: ReadonlyMap<number, string>,
  images: readonly DatasetImage[],
): string[] {
  const boxed = new Set(images.flatMap((im) => im.boxes.map((b) => b.label)))
  return [...names.values()].filter((c) => !isBackgroundLabel(c) || boxed.has(c))
}

/** Counts for `camlabel status` and the project summary. */
export interface ProjectCounts {
  images: number
  byStatus: Record<ImageStatus, number>
  boxes: Record<BoxStatus, number>
  byClass: { label: string; images: number; kept: number; pending: number; rejected: number }[]
}

const sameCorners = (a: Box, b: Box) =>
  a.x0 === b.x0 && a.y0 === b.y0 && a.x1 === b.x1 && a.y1 === b.y1

/** Reviewed boxes. */
export class ReviewRepo {
  constructor(
    private readonly sql: Prepared,
    private readonly transaction: <T>(fn: () => T) => T,
    private readonly images: ImagesRepo,
    private readonly labels: LabelsRepo,
  ) {}

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
        ...(a.attributes ? { attributes: JSON.parse(a.attributes) as BoxAttributes } : {}),
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

  /**
   * Replaces an image's review with a whole state from the review screen (the `image.save` route):
   * pending boxes stay or become proposals (at `threshold`), other boxes become annotations (a box
   * whose id is `p<N>` is the decision on proposal N), and whatever is not in `boxes` is removed.
   * Boxes are clipped to the image. A label that only a box implied (source 'review') goes with
   * the last box of its class, so undoing a box of a new class takes its label away too.
   * Idempotent: a state equal to the stored one writes nothing (autosave never grows the file).
   * Returns the image's status and revision, and whether anything changed.
   */
  save(
    imageId: number,
    state: { threshold: number; boxes: ReviewBox[] },
  ): { status: ImageStatus; revision: number; changed: boolean } {
    const image = this.images.require(imageId)
    const boxes = state.boxes.map((b) => ({ ...b, box: fitBox(b.box, image.width, image.height) }))
    const changed = this.transaction(() => {
      const proposals = this.sql('SELECT * FROM proposals WHERE image_id = ? ORDER BY id').all(
        imageId,
      ) as ProposalRow[]
      const annotations = this.sql('SELECT * FROM annotations WHERE image_id = ? ORDER BY id').all(
        imageId,
      ) as AnnotationRow[]
      const props = new Map(proposals.map((p) => [`p${p.id}`, p]))
      const anns = new Map(annotations.map((a) => [a.key ?? `a${a.id}`, a]))
      const byProposal = new Map(
        annotations.filter((a) => a.proposal_id !== null).map((a) => [a.proposal_id!, a]),
      )
      const keepProps = new Set<number>()
      const keepAnns = new Set<number>()
      const lastRun = proposals.at(-1)
      const t = Date.now()
      let changed = false
      for (const [rank, b] of boxes.entries()) {
        const classId = this.labels.ensureClass(b.label)
        const p = props.get(b.id)
        if (b.status === 'pending') {
          // A proposal pending again (its decision undone) is the same proposal: its decision
          // goes (it is not kept below), the proposal row stays.
          if (p) {
            const score = b.score ?? p.score
            if (
              p.class_id !== classId ||
              !sameCorners(p, b.box) ||
              p.score !== score ||
              p.threshold !== state.threshold
            ) {
              this.sql(
                'UPDATE proposals SET class_id = ?, x0 = ?, y0 = ?, x1 = ?, y1 = ?, score = ?, threshold = ? WHERE id = ?',
              ).run(classId, b.box.x0, b.box.y0, b.box.x1, b.box.y1, score, state.threshold, p.id)
              changed = true
            }
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
            changed = true
          }
          continue
        }
        const a = anns.get(b.id) ?? (p ? byProposal.get(p.id) : undefined)
        const attrs = storedAttributes(b.attributes)
        if (a) {
          if (
            a.class_id !== classId ||
            !sameCorners(a, b.box) ||
            a.status !== b.status ||
            a.score !== b.score ||
            a.attributes !== attrs
          ) {
            this.sql(
              'UPDATE annotations SET class_id = ?, x0 = ?, y0 = ?, x1 = ?, y1 = ?, status = ?, score = ?, attributes = ?, updated_at = ? WHERE id = ?',
            ).run(
              classId,
              b.box.x0,
              b.box.y0,
              b.box.x1,
              b.box.y1,
              b.status,
              b.score,
              attrs,
              t,
              a.id,
            )
            changed = true
          }
          keepAnns.add(a.id)
          if (a.proposal_id !== null) keepProps.add(a.proposal_id)
        } else {
          const id = this.sql(
            `INSERT INTO annotations(image_id, class_id, x0, y0, x1, y1, status, source, proposal_id, score, key, attributes, updated_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, 'review', ?, ?, ?, ?, ?)`,
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
            attrs,
            t,
          ).lastInsertRowid
          keepAnns.add(Number(id))
          if (p) keepProps.add(p.id)
          changed = true
        }
        if (b.status !== 'rejected') {
          const added = this.sql(
            "INSERT OR IGNORE INTO labels(image_id, class_id, source) VALUES (?, ?, 'review')",
          ).run(imageId, classId).changes
          if (added > 0) changed = true
        }
      }
      for (const a of annotations) {
        if (keepAnns.has(a.id)) continue
        this.sql('DELETE FROM annotations WHERE id = ?').run(a.id)
        changed = true
      }
      for (const p of proposals) {
        if (keepProps.has(p.id)) continue
        this.sql('DELETE FROM proposals WHERE id = ?').run(p.id)
        changed = true
      }
      if (image.threshold !== state.threshold) {
        this.sql('UPDATE images SET threshold = ? WHERE id = ?').run(state.threshold, imageId)
        changed = true
      }
      const unsupported = this.sql(
        `DELETE FROM labels WHERE image_id = @image AND source = 'review'
           AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.image_id = @image AND a.class_id = labels.class_id AND a.status != 'rejected')
           AND NOT EXISTS (SELECT 1 FROM proposals p WHERE p.image_id = @image AND p.class_id = labels.class_id
             AND NOT EXISTS (SELECT 1 FROM annotations d WHERE d.proposal_id = p.id))`,
      ).run({ image: imageId }).changes
      if (unsupported > 0) changed = true
      if (changed) refreshImage(this.sql, imageId)
      return changed
    })
    const after = this.images.require(imageId)
    return { status: after.status, revision: after.revision, changed }
  }

  /**
   * Adds boxes read from an existing annotation file as `accepted` annotations with source
   * `import`, with their attributes; their labels become image-level labels. Returns how many
   * boxes were added.
   */
  addImported(imageId: number, boxes: Omit<DatasetBox, 'score'>[]): number {
    return this.transaction(() => {
      const ins = this.sql(
        `INSERT INTO annotations(image_id, class_id, x0, y0, x1, y1, status, source, attributes, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, 'accepted', 'import', ?, ?)`,
      )
      const t = Date.now()
      const image = this.images.require(imageId)
      for (const b of boxes) {
        const c = fitBox(b.box, image.width, image.height)
        const attrs = storedAttributes(b.attributes)
        ins.run(imageId, this.labels.ensureClass(b.label), c.x0, c.y0, c.x1, c.y1, attrs, t)
      }
      this.labels.add(boxes.map((b) => ({ imageId, label: b.label, source: 'import' })))
      refreshImage(this.sql, imageId, false)
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

  /** Counts by box status and class (images by status come from the gallery). */
  counts(): Omit<ProjectCounts, 'byStatus' | 'images'> {
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
    // One grouped pass over each table (not a scan per class): a 100 000-image project counts in
    // a few hundred milliseconds, which `camlabel status` and the app's summary wait on.
    const perClass = <T>(query: string) =>
      new Map((this.sql(query).all() as (T & { class_id: number })[]).map((r) => [r.class_id, r]))
    const images = perClass<{ n: number }>(
      'SELECT class_id, count(*) AS n FROM labels GROUP BY class_id',
    )
    const decided = perClass<{ kept: number; rejected: number }>(
      "SELECT class_id, sum(status != 'rejected') AS kept, sum(status = 'rejected') AS rejected FROM annotations GROUP BY class_id",
    )
    const pending = perClass<{ n: number }>(
      'SELECT p.class_id, count(*) AS n FROM proposals p WHERE NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id) GROUP BY p.class_id',
    )
    boxes.pending = [...pending.values()].reduce((n, r) => n + r.n, 0)
    const byClass = this.labels.classes().map((c) => ({
      label: c.name,
      images: images.get(c.id)?.n ?? 0,
      kept: decided.get(c.id)?.kept ?? 0,
      pending: pending.get(c.id)?.n ?? 0,
      rejected: decided.get(c.id)?.rejected ?? 0,
    }))
    return { boxes, byClass }
  }

  /**
   * The project as a dataset for the format writers: every image in path order (or those `only`
   * names) with its kept boxes (accepted, edited, manual; never rejected) and, when asked, its
   * pending proposals with their scores. Classes in project order; 'background' (negatives, never
   * boxed) is not a class of the dataset.
   */
  dataset(options: DatasetOptions = {}): Dataset {
    const names = new Map(this.labels.classes().map((c) => [c.id, c.name]))
    const rows = this.sql(
      'SELECT id, path, width, height, status FROM images ORDER BY path',
    ).all() as { id: number; path: string; width: number; height: number; status: ImageStatus }[]
    const withPending = options.withProposals
      ? new Set(
          this.sql(
            `SELECT DISTINCT image_id FROM proposals p
               WHERE NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id)`,
          )
            .pluck()
            .all() as number[],
        )
      : undefined
    const out = new Map<number, DatasetImage>()
    for (const im of rows) {
      if (options.only && !options.only.has(im.id)) continue
      const wanted =
        options.only !== undefined ||
        options.unreviewed === true ||
        isReviewed(im.status) ||
        withPending?.has(im.id) === true
      if (!wanted) continue
      out.set(im.id, {
        id: im.id,
        file: im.path,
        width: im.width,
        height: im.height,
        boxes: [],
        labels: [],
      })
    }
    for (const l of this.sql('SELECT image_id, class_id FROM labels').all() as {
      image_id: number
      class_id: number
    }[]) {
      out.get(l.image_id)?.labels!.push(names.get(l.class_id)!)
    }
    const kept = this.sql(
      "SELECT image_id, class_id, x0, y0, x1, y1, attributes FROM annotations WHERE status != 'rejected' ORDER BY image_id, id",
    ).all() as (Pick<AnnotationRow, 'image_id' | 'class_id' | 'x0' | 'y0' | 'x1' | 'y1'> & {
      attributes: string | null
    })[]
    for (const k of kept) {
      const box: DatasetBox = { box: boxOf(k), label: names.get(k.class_id)! }
      if (k.attributes) box.attributes = JSON.parse(k.attributes) as BoxAttributes
      out.get(k.image_id)?.boxes.push(box)
    }
    if (options.withProposals) {
      const pending = this.sql(
        `SELECT image_id, class_id, x0, y0, x1, y1, score FROM proposals p
           WHERE NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id) ORDER BY image_id, score DESC`,
      ).all() as Pick<ProposalRow, 'image_id' | 'class_id' | 'x0' | 'y0' | 'x1' | 'y1' | 'score'>[]
      for (const p of pending)
        out
          .get(p.image_id)
          ?.boxes.push({ box: boxOf(p), label: names.get(p.class_id)!, score: p.score })
    }
    const images = [...out.values()]
    return { classes: datasetClasses(names, images), images }
  }

  /** Ids of the reviewed images (see isReviewed), in one indexed pass. */
  reviewedIds(): Set<number> {
    return new Set(
      this.sql(`SELECT id FROM images WHERE status IN ${REVIEWED_SQL}`).pluck().all() as number[],
    )
  }

  /**
   * Every proposal a run made (pending or decided: the model's detections as they came), by image,
   * with the classes of `dataset()`, for a results file that is scored against a reviewed export.
   */
  detections(): Dataset {
    const names = new Map(this.labels.classes().map((c) => [c.id, c.name]))
    const out = new Map<number, DatasetImage>()
    for (const im of this.sql('SELECT id, path, width, height FROM images ORDER BY path').all() as {
      id: number
      path: string
      width: number
      height: number
    }[])
      out.set(im.id, { id: im.id, file: im.path, width: im.width, height: im.height, boxes: [] })
    for (const p of this.sql(
      'SELECT image_id, class_id, x0, y0, x1, y1, score FROM proposals ORDER BY image_id, score DESC, id',
    ).all() as Pick<ProposalRow, 'image_id' | 'class_id' | 'x0' | 'y0' | 'x1' | 'y1' | 'score'>[])
      out
        .get(p.image_id)
        ?.boxes.push({ box: boxOf(p), label: names.get(p.class_id)!, score: p.score })
    const images = [...out.values()]
    return { classes: datasetClasses(names, images), images }
  }

  /** What an export would write, for the export dialog and `camlabel export` to say before and after. */
  exportCounts(): ExportCounts {
    const row = this.sql(
      `SELECT
        (SELECT count(*) FROM images WHERE status IN ${REVIEWED_SQL}) AS reviewed,
        (SELECT count(*) FROM annotations a JOIN images i ON i.id = a.image_id
           WHERE a.status != 'rejected' AND i.status IN ${REVIEWED_SQL}) AS reviewedBoxes,
        (SELECT count(*) FROM images WHERE status NOT IN ${REVIEWED_SQL}) AS unreviewed,
        (SELECT count(*) FROM annotations a JOIN images i ON i.id = a.image_id
           WHERE a.status != 'rejected' AND i.status NOT IN ${REVIEWED_SQL}) AS unreviewedBoxes,
        (SELECT count(*) FROM proposals p
           WHERE NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id)) AS pendingProposals,
        (SELECT count(DISTINCT image_id) FROM proposals p
           WHERE NOT EXISTS (SELECT 1 FROM annotations a WHERE a.proposal_id = p.id)) AS pendingImages`,
    ).get() as ExportCounts
    return row
  }
}
