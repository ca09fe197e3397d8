/**
 * Reading an image's displayed size from its header (sharp metadata: no pixel decoding), EXIF
 * orientation applied, with a pixel budget so a decompression bomb is refused from its header.
 */
import sharp, { type Metadata } from 'sharp'
import { CamlabelError } from '../../shared/errors.ts'

/** Images above this many pixels are refused (sharp's own default limit, ~16384²). */
export const MAX_PIXELS = 268_402_689

/**
 * Displayed width and height of an image file.
 * @throws CamlabelError IMAGE_UNREADABLE (empty, not an image, corrupt header), IMAGE_TOO_LARGE
 */
export async function readImageSize(file: string): Promise<{ width: number; height: number }> {
  let meta: Metadata
  try {
    meta = await sharp(file, { limitInputPixels: false }).metadata()
  } catch (err) {
    const msg = (err as Error).message
    const reason = /empty|zero/i.test(msg)
      ? 'the file is empty'
      : /unsupported image format/i.test(msg)
        ? 'not an image (unknown format)'
        : msg
    throw new CamlabelError('IMAGE_UNREADABLE', reason, undefined, { cause: err })
  }
  const w = meta.autoOrient?.width ?? meta.width
  const h = meta.autoOrient?.height ?? meta.height
  if (!w || !h) throw new CamlabelError('IMAGE_UNREADABLE', 'the image header has no size')
  if (w * h > MAX_PIXELS) {
    throw new CamlabelError(
      'IMAGE_TOO_LARGE',
      `${w}x${h} pixels is over the limit of ${MAX_PIXELS} pixels; refused without decoding`,
    )
  }
  return { width: w, height: h }
}

/** Runs `fn` over `items` with at most `concurrency` at a time, keeping order in the results. */
export async function mapLimit<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length)
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const i = next++
      out[i] = await fn(items[i], i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  return out
}
