/**
 * Recursive scan of an image folder. Image files (by extension) are returned relative to the root in
 * posix form, sorted; every other file is skipped and counted. Hidden entries (.DS_Store, .git) are
 * skipped; symbolic links to folders are not followed (no loops, nothing outside the root), and
 * symbolic links are kept only when their target is a regular file inside the root. Special files
 * (FIFOs, sockets, devices) are never listed: reading one could block forever.
 */
import type { Dirent } from 'node:fs'
import { readdir, realpath, stat } from 'node:fs/promises'
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'
import { isImageFile, storedPathProblem, toPosix } from './paths.ts'

/** Result of scanImageFolder. */
export interface ImageScan {
  /** Image paths relative to the root, posix, sorted. */
  images: string[]
  /** Non-image files (relative paths) that were skipped. */
  skipped: string[]
  /** Entries that could not be read, with the reason. */
  problems: { file: string; reason: string }[]
}

/**
 * Lists the images under `root`, recursively.
 * @throws CamlabelError NOT_FOUND when the root is not a readable folder
 */
export async function scanImageFolder(root: string): Promise<ImageScan> {
  const absRoot = path.resolve(root)
  let realRoot: string
  try {
    realRoot = await realpath(absRoot)
    await readdir(realRoot)
  } catch (err) {
    throw new CamlabelError(
      'NOT_FOUND',
      `Cannot read the image folder ${absRoot}: ${(err as Error).message}`,
      'Check the --images path.',
      { cause: err },
    )
  }
  const out: ImageScan = { images: [], skipped: [], problems: [] }
  const walk = async (dir: string): Promise<void> => {
    let entries: Dirent[]
    try {
      entries = await readdir(dir, { withFileTypes: true })
    } catch (err) {
      out.problems.push({
        file: toPosix(path.relative(absRoot, dir)),
        reason: (err as Error).message,
      })
      return
    }
    for (const e of entries) {
      if (e.name.startsWith('.')) continue
      const abs = path.join(dir, e.name)
      const rel = toPosix(path.relative(absRoot, abs))
      // A name a project cannot store (a line break or control character in it) is reported.
      const bad = storedPathProblem(rel)
      if (bad) {
        out.problems.push({ file: JSON.stringify(rel), reason: `not imported: ${bad}` })
        continue
      }
      if (e.isDirectory()) await walk(abs)
      else if (e.isSymbolicLink()) {
        try {
          const target = await realpath(abs)
          const inside = !path.relative(realRoot, target).startsWith('..')
          // Only a regular file: a link to a FIFO or a device would block or never end a read.
          if (inside && isImageFile(e.name) && (await isRegularFile(target))) out.images.push(rel)
          else out.skipped.push(rel)
        } catch {
          out.problems.push({ file: rel, reason: 'broken symbolic link' })
        }
      } else if (e.isFile()) {
        if (isImageFile(e.name)) out.images.push(rel)
        else out.skipped.push(rel)
      }
    }
  }
  await walk(absRoot)
  out.images.sort()
  out.skipped.sort()
  return out
}

async function isRegularFile(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile()
  } catch {
    return false
  }
}
