/**
 * Paths inside a project's image root. Every path that comes from a file a user gave us (CSV row,
 * COCO file_name, VOC <filename>) goes through `resolveInsideRoot`, so nothing outside the image root
 * is ever read: `../../etc/passwd` is refused before any file system call.
 */
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'

/** Image file extensions camlabel imports (lower case, with the dot). */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set([
  '.jpg',
  '.jpeg',
  '.png',
  '.webp',
  '.tif',
  '.tiff',
  '.bmp',
])

/** True when the file name has an image extension camlabel imports (case-insensitive). */
export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase())
}

/** A path with forward slashes, as stored in the project and written to exports on every OS. */
export function toPosix(p: string): string {
  return p.split(path.sep).join('/')
}

/**
 * Resolves `candidate` (relative to `base`, or absolute) and checks it stays inside `root`.
 * Returns the absolute path and the path relative to `root` in posix form.
 * @throws CamlabelError PATH_OUTSIDE_ROOT when it escapes the root (`..`, absolute elsewhere).
 */
export function resolveInsideRoot(
  root: string,
  candidate: string,
  base: string = root,
): { abs: string; rel: string } {
  const absRoot = path.resolve(root)
  // Backslashes in files written on Windows are separators, not name characters.
  const cleaned = candidate.replace(/\\/g, '/')
  const abs = path.resolve(base, cleaned)
  const rel = path.relative(absRoot, abs)
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new CamlabelError(
      'PATH_OUTSIDE_ROOT',
      `'${candidate}' is outside the image folder ${absRoot}`,
      'Only files inside the image folder are imported; move the file or fix the path.',
    )
  }
  return { abs, rel: toPosix(rel) }
}

/** Like resolveInsideRoot but returns undefined instead of throwing. */
export function tryResolveInsideRoot(
  root: string,
  candidate: string,
  base: string = root,
): { abs: string; rel: string } | undefined {
  try {
    return resolveInsideRoot(root, candidate, base)
  } catch {
    return undefined
  }
}
