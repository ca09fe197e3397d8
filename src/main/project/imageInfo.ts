/**
 * Reading an image's displayed size from its header (sharp metadata: no pixel decoding), EXIF
 * orientation applied, with a pixel budget so a decompression bomb is refused from its header.
 */
import path from 'node:path'
import sharp, { type Metadata } from 'sharp'
import { IMAGE_FORMAT_NAMES } from '../formats/paths.ts'
import { CamlabelError } from '../../shared/errors.ts'
import { DEFAULT_MAX_PIXELS } from '../engine/preprocess.ts'

/**
 * Images above this many pixels are refused: the limit proposal runs decode with (preprocess.ts),
 * so an image the import accepts is one a run can read.
 */
export const MAX_PIXELS = DEFAULT_MAX_PIXELS

const UNREADABLE_HINT =
  `Check that the file is a complete ${IMAGE_FORMAT_NAMES} image (copy or export it ` +
  'again), or remove it from the folder; the other images are imported.'

/**
 * Displayed width and height of an image file. Messages start with `name` (default: the file's
 * name) and carry a hint saying what to do.
 * @throws CamlabelError IMAGE_UNREADABLE (empty, not an image, corrupt header), IMAGE_TOO_LARGE
 */
export async function readImageSize(
  file: string,
  name = path.basename(file),
): Promise<{ width: number; height: number }> {
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
    throw new CamlabelError('IMAGE_UNREADABLE', `${name}: ${reason}`, UNREADABLE_HINT, {
      cause: err,
    })
  }
  const w = meta.autoOrient?.width ?? meta.width
  const h = meta.autoOrient?.height ?? meta.height
  if (!w || !h)
    throw new CamlabelError(
      'IMAGE_UNREADABLE',
      `${name}: the image header has no size`,
      UNREADABLE_HINT,
    )
  if (w * h > MAX_PIXELS) {
    throw new CamlabelError(
      'IMAGE_TOO_LARGE',
      `${name}: ${w}x${h} pixels is over the limit of ${Math.round(MAX_PIXELS / 1e6)} megapixels; refused without decoding`,
      'Downscale the image (or split it into tiles) and import it again; the other images are imported.',
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
