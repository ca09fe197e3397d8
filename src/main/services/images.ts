/**
 * Serves a project's images to the page, by image id only: the page never names a file path, so
 * nothing outside the project can be asked for, and every file goes through the path check
 * (project/imageFiles.ts). Thumbnails are made with sharp (EXIF-rotated) and cached on
 * disk under the image's content fingerprint, so a changed file gets a new thumbnail.
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises'
import path from 'node:path'
import sharp from 'sharp'
import { CamlabelError } from '../../shared/errors.ts'
import { imageFiles } from '../project/imageFiles.ts'
import type { ProjectStore } from '../store/projectStore.ts'

export const THUMB_SIZE = { width: 340, height: 268 }
/** Thumbnail size for screens at devicePixelRatio 1: a quarter of the pixels to decode per cell. */
export const THUMB_1X_SIZE = { width: 170, height: 134 }

export type ImageVariant = 'full' | 'thumb' | 'thumb1x'

const BROWSER_TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.bmp': 'image/bmp',
}

export interface ImageBody {
  body: Buffer
  type: string
}

/** Parses `image/<id>` or `thumb/<id>` (the path of a camlabel-image:// or test host URL). */
export function parseImageRequest(p: string): { variant: ImageVariant; id: number } | null {
  const m = /^\/*(image|thumb|thumb1x)\/(\d{1,12})$/.exec(p)
  if (!m) return null
  return { variant: m[1] === 'image' ? 'full' : (m[1] as 'thumb' | 'thumb1x'), id: Number(m[2]) }
}

/** The real file of image `id`, through the path check every use of an image makes (imageFiles.ts). */
export async function resolveImageFile(
  store: ProjectStore,
  id: number,
): Promise<{ file: string; hash: string }> {
  const image = store.images.get(id)
  if (!image) throw new CamlabelError('NOT_FOUND', `No image ${id} in this project`)
  return { file: await imageFiles(store).resolve(image.file), hash: image.hash }
}

/** The thumbnail of an image that cannot be decoded. */
const UNREADABLE_THUMB = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="160" height="120" viewBox="0 0 160 120">' +
    '<rect width="160" height="120" fill="#2a1c1f"/>' +
    '<path d="M64 38h32v44H64z" fill="none" stroke="#e0707a" stroke-width="4"/>' +
    '<path d="M60 86l40-52" stroke="#e0707a" stroke-width="4"/></svg>',
)

/** The bytes and content type for a request. */
export async function imageBody(
  store: ProjectStore,
  id: number,
  variant: ImageVariant,
  thumbsDir: string,
): Promise<ImageBody> {
  const { file, hash } = await resolveImageFile(store, id)
  if (variant === 'full') {
    const type = BROWSER_TYPES[path.extname(file).toLowerCase()]
    if (type) return { body: await readFile(file), type }
    return { body: await sharp(file).rotate().png().toBuffer(), type: 'image/png' }
  }
  const size = variant === 'thumb1x' ? THUMB_1X_SIZE : THUMB_SIZE
  const key = createHash('sha1').update(`${hash}:${size.width}x${size.height}`).digest('hex')
  const cached = path.join(thumbsDir, key.slice(0, 2), `${key}.jpg`)
  try {
    return { body: await readFile(cached), type: 'image/jpeg' }
  } catch {
    // not cached yet
  }
  let body: Buffer
  try {
    body = await sharp(file, { limitInputPixels: 100_000_000 })
      .rotate()
      .resize({ ...size, fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality: 78 })
      .toBuffer()
  } catch {
    // A file that cannot be decoded (truncated, not an image) gets a picture saying so, not an
    // error: the gallery shows the reason beside it (the last run's error).
    return { body: UNREADABLE_THUMB, type: 'image/svg+xml' }
  }
  await mkdir(path.dirname(cached), { recursive: true })
  const tmp = `${cached}.${process.pid}.tmp`
  await writeFile(tmp, body)
  await rename(tmp, cached)
  return { body, type: 'image/jpeg' }
}
