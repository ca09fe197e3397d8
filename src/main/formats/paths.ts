/**
 * Paths inside a project's image root. Every path that comes from a file a user gave us (CSV row,
 * COCO file_name, VOC <filename>) goes through `resolveInsideRoot`, so nothing outside the image root
 * is ever read: `../../etc/passwd` is refused before any file system call.
 */
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'
import { hasControlCharacter } from '../../shared/labels.ts'

/**
 * The image formats camlabel reads — exactly those its decoder (sharp's libvips) reads photos in;
 * a unit test checks each against sharp. BMP and HEIC are not among them (libvips as sharp ships
 * it has no decoder for them); SVG is a drawing, not a photo.
 */
export const IMAGE_FORMATS = [
  { name: 'JPEG', extensions: ['.jpg', '.jpeg', '.jpe', '.jfif'] },
  { name: 'PNG', extensions: ['.png'] },
  { name: 'WebP', extensions: ['.webp'] },
  { name: 'TIFF', extensions: ['.tif', '.tiff'] },
  { name: 'GIF', extensions: ['.gif'] },
  { name: 'AVIF', extensions: ['.avif'] },
] as const

/** Image file extensions camlabel imports (lower case, with the dot). */
export const IMAGE_EXTENSIONS: ReadonlySet<string> = new Set(
  IMAGE_FORMATS.flatMap((f) => [...f.extensions]),
)

/** The formats in words, for messages: "JPEG, PNG, WebP, TIFF, GIF or AVIF". */
export const IMAGE_FORMAT_NAMES = IMAGE_FORMATS.map((f) => f.name)
  .join(', ')
  .replace(/, ([^,]+)$/, ' or $1')

/** True when the file name has an image extension camlabel imports (case-insensitive). */
export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.has(path.extname(name).toLowerCase())
}

/**
 * Why an image path relative to the root cannot be stored, or undefined when it can: a project
 * stores paths relative to the image root, posix, with no empty, `.` or `..` part, no drive, no
 * backslash and no control character. Import only stores such paths.
 */
export function storedPathProblem(file: string): string | undefined {
  if (file === '') return 'the path is empty'
  if (hasControlCharacter(file)) return 'the path holds a control character'
  if (file.includes('\\')) return 'the path holds a backslash'
  if (file.startsWith('/') || /^[A-Za-z]:/.test(file)) return 'the path is absolute'
  if (file.split('/').some((s) => s === '' || s === '.' || s === '..'))
    return "the path has an empty, '.' or '..' part"
  return undefined
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
