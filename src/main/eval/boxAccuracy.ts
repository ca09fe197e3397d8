/**
 * GT-known box accuracy, the weakly-supervised localisation measure of the CAM literature: with the
 * true class given, an image counts as a hit when the main proposal for that class overlaps some
 * ground-truth box of that class with IoU at least the bound.
 */
import { iou, type Box } from '../../shared/box.ts'
import { cocoToBox } from '../formats/coco.ts'

/** Ground truth and the main proposal of one (image, class) pair. */
export interface LocalisationCase {
  truth: Box[]
  /** The main proposal; undefined when none was made (counts as a miss). */
  predicted: Box | undefined
}

/** Fraction of cases whose predicted box reaches the IoU bound with any ground-truth box. */
export function boxAccuracy(cases: readonly LocalisationCase[], bound: number): number {
  if (cases.length === 0) return 0
  let hits = 0
  for (const c of cases)
    if (c.predicted && c.truth.some((t) => iou(t, c.predicted!) >= bound)) hits++
  return hits / cases.length
}

/** Mean over cases of the best IoU of the predicted box with the truth (0 for a missing box). */
export function meanBestIou(cases: readonly LocalisationCase[]): number {
  if (cases.length === 0) return 0
  let sum = 0
  for (const c of cases)
    if (c.predicted) sum += Math.max(0, ...c.truth.map((t) => iou(t, c.predicted!)))
  return sum / cases.length
}

/** Minimal COCO shape read for evaluation. */
export interface CocoLike {
  images: { id: number; file_name: string }[]
  categories: { id: number; name: string }[]
  annotations: { image_id: number; category_id: number; bbox: number[]; score?: number }[]
}

/**
 * Pairs predictions with ground truth by file name and class name. For every (image, class) of the
 * truth, the prediction is the highest-scored predicted box of that class in that image. Files match
 * by base name, since the two files may name images relative to different folders.
 */
export function casesFromCoco(truth: CocoLike, predicted: CocoLike): LocalisationCase[] {
  const key = (file: string, cls: string): string => `${file.split('/').pop()}\u0000${cls}`
  const boxesOf = (coco: CocoLike): Map<string, { box: Box; score: number }[]> => {
    const files = new Map(coco.images.map((i) => [i.id, i.file_name]))
    const classes = new Map(coco.categories.map((c) => [c.id, c.name]))
    const out = new Map<string, { box: Box; score: number }[]>()
    for (const a of coco.annotations) {
      const k = key(files.get(a.image_id) ?? '', classes.get(a.category_id) ?? '')
      const list = out.get(k) ?? []
      list.push({ box: cocoToBox(a.bbox), score: a.score ?? 1 })
      out.set(k, list)
    }
    return out
  }
  const truthBoxes = boxesOf(truth)
  const predictedBoxes = boxesOf(predicted)
  const cases: LocalisationCase[] = []
  for (const [k, boxes] of truthBoxes) {
    const candidates = predictedBoxes.get(k) ?? []
    const best = candidates.reduce<{ box: Box; score: number } | undefined>(
      (a, b) => (a === undefined || b.score > a.score ? b : a),
      undefined,
    )
    cases.push({ truth: boxes.map((b) => b.box), predicted: best?.box })
  }
  return cases
}
