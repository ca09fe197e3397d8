/**
 * The one check every use of an image file goes through — proposing, learning, exporting, the
 * guided view, thumbnails and full images served to the page. A stored image path must keep the
 * rule of formats/paths.ts storedPathProblem (relative, no `..`…), its real path (symbolic links resolved) lie
 * inside the real image root, and be a regular file: a symbolic link swapped in after the import,
 * or a project file edited to point at `../../victim.jpg`, reads and writes nothing outside the
 * root. Callers use the real path this returns, never the stored one.
 *
 * It also notices files changed on disk since their import (size or modification time): a run
 * re-reads them and redoes their proposals (see ImagesRepo.markChanged), an export uses their
 * current size and says so.
 */
import { realpath, stat } from 'node:fs/promises'
import path from 'node:path'
import { CamlabelError, toErrorData, type ErrorCode } from '../../shared/errors.ts'
import type { ImageRecord, ProjectStore } from '../store/projectStore.ts'
import { fileFingerprint } from '../store/hash.ts'
import { storedPathProblem } from '../formats/paths.ts'
import { mapLimit, readImageSize } from './imageInfo.ts'

/** `child` is inside `parent` (both real, absolute). */
function inside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child)
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel)
}

/** A checked image file. */
export interface CheckedFile {
  /** The file's real path: the one to read. */
  real: string
}

/** Resolves stored image paths under one image root (see the module comment). */
export class ImageFiles {
  private realRoot: Promise<string> | undefined

  constructor(readonly root: string) {}

  /**
   * The real path of a stored image file.
   * @throws CamlabelError PATH_OUTSIDE_ROOT (breaks the rules), NOT_FOUND (no such file),
   *   IMAGE_UNREADABLE (not a regular file)
   */
  async resolve(file: string): Promise<string> {
    const problem = storedPathProblem(file)
    if (problem) {
      throw new CamlabelError(
        'PATH_OUTSIDE_ROOT',
        `The project's image path ${JSON.stringify(file)} is refused: ${problem}`,
        'Only files inside the image folder are read; import the image again from there.',
      )
    }
    this.realRoot ??= realpath(this.root).catch((err: unknown) => {
      this.realRoot = undefined
      throw new CamlabelError(
        'NOT_FOUND',
        `The image folder ${this.root} is missing`,
        'Reconnect the drive or move the folder back, then try again.',
        { cause: err },
      )
    })
    const root = await this.realRoot
    let real: string
    try {
      real = await realpath(path.join(this.root, ...file.split('/')))
    } catch {
      throw new CamlabelError(
        'NOT_FOUND',
        `The file of image ${file} is missing`,
        'Put it back in the image folder, or import the folder again.',
      )
    }
    if (!inside(real, root)) {
      throw new CamlabelError(
        'PATH_OUTSIDE_ROOT',
        `${file} resolves outside the image folder (a symbolic link to ${real}); not read`,
        'Only files inside the image folder are read; replace the link with the image itself.',
      )
    }
    if (!(await stat(real)).isFile()) {
      throw new CamlabelError(
        'IMAGE_UNREADABLE',
        `${file} is not a regular file; not read`,
        'Replace it with an image file.',
      )
    }
    return real
  }
}

/** The image files of a project. */
export function imageFiles(store: Pick<ProjectStore, 'imageRoot'>): ImageFiles {
  return new ImageFiles(store.imageRoot)
}

/** An image that cannot be used now, and why. */
export interface ImageFailure {
  id: number
  file: string
  code: ErrorCode
  message: string
}

/** An image whose file changed on disk since its import. */
export interface ChangedImage {
  id: number
  file: string
  width: number
  height: number
}

/** What checkImages found. */
export interface ImageCheck {
  /** Real path of every usable image. */
  paths: Map<number, string>
  failed: ImageFailure[]
  changed: ChangedImage[]
}

/**
 * Checks images before they are used: each path (the rules above) and whether the file changed
 * since its import (size or modification time, then the content fingerprint). With `update`, a
 * changed image's row is re-read (size, fingerprint) and its proposals from the old content are
 * dropped so the next run proposes it again (ImagesRepo.markChanged); without, only its current
 * size is reported (a read-only export).
 */
export async function checkImages(
  store: ProjectStore,
  images: readonly Pick<ImageRecord, 'id' | 'file' | 'size' | 'mtimeMs' | 'hash'>[],
  options: { update: boolean; concurrency?: number },
): Promise<ImageCheck> {
  const files = imageFiles(store)
  const out: ImageCheck = { paths: new Map(), failed: [], changed: [] }
  await mapLimit(images, options.concurrency ?? 16, async (im) => {
    try {
      const real = await files.resolve(im.file)
      const st = await stat(real)
      if (st.size !== im.size || Math.round(st.mtimeMs) !== im.mtimeMs) {
        const fp = await fileFingerprint(real)
        if (fp.hash !== im.hash) {
          const size = await readImageSize(real, im.file)
          out.changed.push({ id: im.id, file: im.file, ...size })
          if (options.update) store.images.markChanged(im.id, { ...size, ...fp })
        } else if (options.update) store.images.touch(im.id, fp)
      }
      out.paths.set(im.id, real)
    } catch (err) {
      const e = toErrorData(err)
      out.failed.push({ id: im.id, file: im.file, code: e.code, message: e.message })
    }
  })
  return out
}
