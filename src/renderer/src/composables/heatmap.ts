/** Paints a low-resolution CAM into a canvas of its own size; CSS scaling upsamples it smoothly. */
import type { CamData } from '../../../shared/contracts/common.ts'

/** A jet-like colour ramp: blue (cold) → cyan → yellow → red (hot); alpha grows with the value, so
 * cold regions leave the photo untouched. */
export function heatColour(v: number): [number, number, number, number] {
  const c = (x: number): number => Math.round(255 * Math.min(1, Math.max(0, x)))
  const t = Math.min(1, Math.max(0, v))
  return [c(1.5 - Math.abs(4 * t - 3)), c(1.5 - Math.abs(4 * t - 2)), c(1.5 - Math.abs(4 * t - 1)), Math.round(255 * Math.min(1, t * 1.4) ** 1.5)]
}

export function paintCam(canvas: HTMLCanvasElement, cam: CamData): void {
  canvas.width = cam.width
  canvas.height = cam.height
  const ctx = canvas.getContext('2d')
  if (!ctx) return
  const img = ctx.createImageData(cam.width, cam.height)
  for (let i = 0; i < cam.data.length; i++) {
    const [r, g, b, a] = heatColour(cam.data[i]!)
    img.data[i * 4] = r
    img.data[i * 4 + 1] = g
    img.data[i * 4 + 2] = b
    img.data[i * 4 + 3] = a
  }
  ctx.putImageData(img, 0, 0)
}
