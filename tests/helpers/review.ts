/**
 * Review decisions in tests, made as the review screen makes them: the image's whole state changed
 * the way the annotation store changes it (src/renderer/src/stores/annotation.ts), then saved
 * through `review.save`, the path of the `image.save` route. No second edit API.
 */
import type { Box } from '../../src/shared/box.ts'
import type { ProjectStore, ReviewBox } from '../../src/main/store/projectStore.ts'

/** The image a review box id belongs to (`p<N>`, `a<N>` or a drawn box's key). */
function imageOf(store: ProjectStore, boxId: string): number {
  const p = /^p(\d+)$/.exec(boxId)
  const a = /^a(\d+)$/.exec(boxId)
  const row = (
    p
      ? store.db.prepare('SELECT image_id FROM proposals WHERE id = ?').get(Number(p[1]))
      : a
        ? store.db.prepare('SELECT image_id FROM annotations WHERE id = ?').get(Number(a[1]))
        : store.db.prepare('SELECT image_id FROM annotations WHERE key = ?').get(boxId)
  ) as { image_id: number } | undefined
  if (!row) throw new Error(`no box ${boxId}`)
  return row.image_id
}

/** Saves `change(boxes)` as the image's review, at the image's threshold. */
export function edit(
  store: ProjectStore,
  imageId: number,
  change: (boxes: ReviewBox[]) => ReviewBox[],
): void {
  const threshold = store.images.require(imageId).threshold ?? 0.2
  store.review.save(imageId, { threshold, boxes: change(store.review.boxes(imageId)) })
}

/** The id a box has after a save: a decided proposal is listed by its annotation. */
function idAfter(store: ProjectStore, boxId: string): string {
  const p = /^p(\d+)$/.exec(boxId)
  if (!p) return boxId
  const ann = store.db
    .prepare('SELECT id, key FROM annotations WHERE proposal_id = ?')
    .get(Number(p[1])) as { id: number; key: string | null } | undefined
  return ann ? (ann.key ?? `a${ann.id}`) : boxId
}

const editedStatus = (b: ReviewBox): ReviewBox['status'] =>
  b.status === 'manual' ? 'manual' : 'edited'

/** Accepts a box (a pending or rejected proposal becomes accepted). Returns its id after the save. */
export function accept(store: ProjectStore, boxId: string): string {
  edit(store, imageOf(store, boxId), (boxes) =>
    boxes.map((b) =>
      b.id === boxId && (b.status === 'pending' || b.status === 'rejected')
        ? { ...b, status: 'accepted' }
        : b,
    ),
  )
  return idAfter(store, boxId)
}

/** Rejects a box (kept as rejected, so a re-run does not offer it again); a drawn box is removed. */
export function reject(store: ProjectStore, boxId: string): void {
  edit(store, imageOf(store, boxId), (boxes) =>
    boxes.flatMap((b) =>
      b.id !== boxId ? [b] : b.status === 'manual' ? [] : [{ ...b, status: 'rejected' as const }],
    ),
  )
}

/** Accepts every pending proposal of an image. Returns how many. */
export function acceptAll(store: ProjectStore, imageId: number): number {
  let n = 0
  edit(store, imageId, (boxes) =>
    boxes.map((b) => (b.status === 'pending' ? (n++, { ...b, status: 'accepted' as const }) : b)),
  )
  return n
}

let drawn = 0

/** Draws a box (status manual). Returns its id. */
export function draw(store: ProjectStore, imageId: number, label: string, box: Box): string {
  const id = `m-test-${++drawn}`
  edit(store, imageId, (boxes) => [...boxes, { id, label, box, status: 'manual', score: null }])
  return id
}

/** Moves or resizes a box: a proposal's becomes edited, a drawn one stays manual. */
export function move(store: ProjectStore, boxId: string, box: Box): string {
  edit(store, imageOf(store, boxId), (boxes) =>
    boxes.map((b) => (b.id === boxId ? { ...b, box, status: editedStatus(b) } : b)),
  )
  return idAfter(store, boxId)
}

/** Changes a box's class. */
export function relabel(store: ProjectStore, boxId: string, label: string): string {
  edit(store, imageOf(store, boxId), (boxes) =>
    boxes.map((b) => (b.id === boxId ? { ...b, label, status: editedStatus(b) } : b)),
  )
  return idAfter(store, boxId)
}
