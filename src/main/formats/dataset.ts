/**
 * The neutral in-memory form every reader produces and every writer consumes. Boxes are the one
 * Box type of src/shared/box.ts (displayed pixels, x1/y1 exclusive); conversions to a format's own
 * convention happen only inside that format's module.
 */
import type { Box } from '../../shared/box.ts'

/**
 * What annotation tools record about an object beside its box: Pascal VOC's `difficult`,
 * `truncated` and `pose`, and `occluded` (VOC 2012 writers, CVAT). Kept through import and export;
 * an absent key is the format's default (false, 'Unspecified').
 */
export interface BoxAttributes {
  difficult?: boolean
  truncated?: boolean
  occluded?: boolean
  pose?: string
}

/** The yes/no attributes. */
export const BOX_FLAGS = ['difficult', 'truncated', 'occluded'] as const

/**
 * Attributes as a reader found them, the formats' defaults dropped: the flags `isSet` says are
 * set, and a pose that is neither empty nor 'Unspecified'; undefined when none is left.
 */
export function boxAttributes(
  isSet: (flag: (typeof BOX_FLAGS)[number]) => boolean,
  pose: string,
): BoxAttributes | undefined {
  const out: BoxAttributes = {}
  for (const flag of BOX_FLAGS) if (isSet(flag)) out[flag] = true
  const p = pose.trim()
  if (p !== '' && p !== 'Unspecified') out.pose = p
  return Object.keys(out).length ? out : undefined
}

/** One box of an image with its class name; `score` set for proposals (predictions). */
export interface DatasetBox {
  box: Box
  label: string
  score?: number
  attributes?: BoxAttributes
}

/** One image: its path relative to the image root (posix), displayed size, boxes, image labels. */
export interface DatasetImage {
  /** The image's id in its project, stable across exports (COCO image ids). */
  id?: number
  file: string
  width: number
  height: number
  boxes: DatasetBox[]
  /** Image-level labels (classes present without a box are still worth keeping). */
  labels?: string[]
}

/** A whole dataset: classes in a stable order (their index + 1 is the COCO category id). */
export interface Dataset {
  classes: string[]
  images: DatasetImage[]
}

/** A problem found while reading one input; the rest of the input is still read. */
export interface Problem {
  /** The file the problem is in (as given, or relative to the root). */
  file?: string
  /** 1-based line number for line-oriented formats (CSV, YOLO). */
  line?: number
  reason: string
}
