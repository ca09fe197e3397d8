/**
 * The one box type of camlabel: corners in pixels of the image as the user sees it (after EXIF
 * orientation), x0 < x1 and y0 < y1, x1/y1 exclusive (a box covering pixel columns 10..19 has x0 10,
 * x1 20). Conversions to COCO, VOC and YOLO conventions live in src/main/formats only.
 */
export interface Box {
  x0: number
  y0: number
  x1: number
  y1: number
}

/** Width × height; 0 for an empty or inverted box. */
export function boxArea(b: Box): number {
  return Math.max(0, b.x1 - b.x0) * Math.max(0, b.y1 - b.y0)
}

/** Intersection over union of two boxes, 0 when either is empty. */
export function iou(a: Box, b: Box): number {
  const w = Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0)
  const h = Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0)
  if (w <= 0 || h <= 0) return 0
  const inter = w * h
  return inter / (boxArea(a) + boxArea(b) - inter)
}

/** Clamps a box to an image of the given size. */
export function clipBox(b: Box, width: number, height: number): Box {
  return {
    x0: Math.min(Math.max(b.x0, 0), width),
    y0: Math.min(Math.max(b.y0, 0), height),
    x1: Math.min(Math.max(b.x1, 0), width),
    y1: Math.min(Math.max(b.y1, 0), height),
  }
}

/** Scales a box from one image size to another (e.g. working resolution back to the image). */
export function scaleBox(b: Box, sx: number, sy: number): Box {
  return { x0: b.x0 * sx, y0: b.y0 * sy, x1: b.x1 * sx, y1: b.y1 * sy }
}
