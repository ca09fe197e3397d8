/**
 * Paints a map (a low-resolution CAM, or a guided map at working resolution) into a canvas of its
 * own size; CSS scaling upsamples it smoothly (bilinearly, for the low-resolution CAM).
 */

/** What can be painted: row-major values in 0..1. */
export interface PaintableMap {
  width: number
  height: number
  data: ArrayLike<number>
}

/** A jet-like colour ramp: blue (cold) → cyan → yellow → red (hot); alpha grows with the value, so
 * cold regions leave the photo untouched. */
export function heatColour(v: number): [number, number, number, number] {
  const c = (x: number): number => Math.round(255 * Math.min(1, Math.max(0, x)))
  const t = Math.min(1, Math.max(0, v))
  return [
    c(1.5 - Math.abs(4 * t - 3)),
    c(1.5 - Math.abs(4 * t - 2)),
    c(1.5 - Math.abs(4 * t - 1)),
    Math.round(255 * Math.min(1, t * 1.4) ** 1.5),
  ]
}

export function paintCam(canvas: HTMLCanvasElement, cam: PaintableMap): void {
  canvas.width = cam.width
  canvas.height = cam.height
  const ctx = canvas.getContext('2d')
  if (!ctx) return
  const img = ctx.createImageData(cam.width, cam.height)
  // One colour per 1/255 step, computed once: a guided map has 175 000 pixels.
  const table = new Uint8ClampedArray(256 * 4)
  for (let v = 0; v < 256; v++) table.set(heatColour(v / 255), v * 4)
  const n = cam.width * cam.height
  for (let i = 0; i < n; i++) {
    const k = Math.round(Math.min(1, Math.max(0, cam.data[i]!)) * 255) * 4
    img.data[i * 4] = table[k]!
    img.data[i * 4 + 1] = table[k + 1]!
    img.data[i * 4 + 2] = table[k + 2]!
    img.data[i * 4 + 3] = table[k + 3]!
  }
  ctx.putImageData(img, 0, 0)
}
