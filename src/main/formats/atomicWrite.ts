/**
 * Atomic writes: content goes to a temporary file in the destination's folder, is flushed to disk
 * (fsync), then renamed over the destination — a reader (or a crash) sees the old file or the new
 * one, never half of one. An existing destination is kept unless `overwrite` is set, and even then
 * only a plain file or folder that `notReplaceable` accepts is replaced. A full disk (ENOSPC)
 * becomes DISK_FULL and leaves the old file intact; the temporary file is removed, and those of
 * writers that were killed are swept at the next write to the same place.
 */
import { isProcessAlive } from '../liveness.ts'
import { randomBytes } from 'node:crypto'
import { closeSync, constants, fsyncSync, openSync, writeSync } from 'node:fs'
import { copyFile, link, lstat, mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { CamlabelError } from '../../shared/errors.ts'

/** Options of the atomic writers. */
export interface AtomicOptions {
  /** Replace an existing destination (default false: ALREADY_EXISTS). */
  overwrite?: boolean
  /**
   * Says why an existing destination must not be replaced even with `overwrite` (it is not an
   * earlier export of this kind), or undefined when it may be.
   */
  notReplaceable?: (dest: string) => Promise<string | undefined>
}

/** Maps file-system errors to domain errors with a way out. */
export function fsError(err: unknown, what: string): CamlabelError {
  if (err instanceof CamlabelError) return err
  const e = err as NodeJS.ErrnoException
  if (e?.code === 'ENOSPC' || e?.code === 'EDQUOT') {
    return new CamlabelError(
      'DISK_FULL',
      `The disk is full while writing ${what}`,
      'Free some space and try again; the previous file is intact.',
      { cause: err },
    )
  }
  if (e?.code === 'ENOTDIR' || (e?.code === 'EEXIST' && e.syscall === 'mkdir')) {
    return new CamlabelError(
      'INVALID_ARGUMENT',
      `Cannot write ${what}: a part of its path is a file, not a folder`,
      'Choose an output path inside a folder.',
      { cause: err },
    )
  }
  if (e?.code === 'EACCES' || e?.code === 'EPERM' || e?.code === 'EROFS') {
    return new CamlabelError(
      'INVALID_ARGUMENT',
      `Not allowed to write ${what}: ${e.message}`,
      'Choose a folder you can write to.',
      { cause: err },
    )
  }
  return new CamlabelError(
    'INTERNAL',
    `Could not write ${what}: ${e?.message ?? String(err)}`,
    undefined,
    { cause: err },
  )
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p)
    return true
  } catch {
    return false
  }
}

function tempName(dest: string): string {
  return path.join(
    path.dirname(dest),
    `.${path.basename(dest)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
  )
}

/**
 * Removes what killed writers of `dest` left beside it (their temporary files and folders, and
 * old exports moved aside): names made by tempName whose process is gone. A writer still running
 * is left alone.
 */
export async function sweepTemporaries(dest: string): Promise<string[]> {
  const dir = path.dirname(dest)
  const prefix = `.${path.basename(dest)}.tmp-`
  const swept: string[] = []
  let names: string[]
  try {
    names = await readdir(dir)
  } catch {
    return swept
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1])
    if (!Number.isInteger(pid) || isProcessAlive(pid)) continue
    await rm(path.join(dir, name), { recursive: true, force: true })
    swept.push(name)
  }
  return swept
}

/**
 * Checks, before any work, that `dest` may be written: it does not exist, or `overwrite` is set and
 * it is a plain earlier output — not a special file (a device such as /dev/null, a pipe, a
 * socket), not a symbolic link, not a folder where a file goes or a file where a folder goes, and
 * nothing `notReplaceable` refuses. Returns whether it exists.
 * @throws CamlabelError ALREADY_EXISTS, INVALID_ARGUMENT
 */
export async function checkOutput(
  dest: string,
  kind: 'file' | 'folder',
  options: AtomicOptions,
): Promise<boolean> {
  const abs = path.resolve(dest)
  if (!(await exists(abs))) return false
  if (!options.overwrite)
    throw new CamlabelError(
      'ALREADY_EXISTS',
      `${abs} already exists`,
      'Choose to replace it (--overwrite), or another output path.',
    )
  await checkReplaceable(abs, kind, options)
  return true
}

async function checkReplaceable(abs: string, kind: 'file' | 'folder', options: AtomicOptions) {
  const st = await lstat(abs)
  const what = st.isSymbolicLink()
    ? 'a symbolic link'
    : st.isDirectory()
      ? 'a folder'
      : st.isFile()
        ? 'a file'
        : 'a special file (a device, pipe or socket)'
  if ((kind === 'file' && !st.isFile()) || (kind === 'folder' && !st.isDirectory())) {
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `Refusing to replace ${abs}: it is ${what}, not ${kind === 'file' ? 'a file' : 'a folder'} an export wrote`,
      'Choose another output path.',
    )
  }
  const why = await options.notReplaceable?.(abs)
  if (why) {
    throw new CamlabelError(
      'INVALID_ARGUMENT',
      `Refusing to replace ${abs}: ${why}`,
      'Only an earlier camlabel export of the same format is replaced; choose another output path.',
    )
  }
}

/** Writes all of `data` to an open descriptor and fsyncs it. Exported for the DISK_FULL test on /dev/full. */
export function writeAllSync(fd: number, data: Uint8Array): void {
  let off = 0
  while (off < data.length) off += writeSync(fd, data, off, data.length - off)
  fsyncSync(fd)
}

/**
 * Writes `data` to `dest` atomically.
 * @throws CamlabelError ALREADY_EXISTS (dest exists, no overwrite), DISK_FULL, INVALID_ARGUMENT (permissions)
 */
export async function writeFileAtomic(
  dest: string,
  data: string | Uint8Array,
  options: AtomicOptions = {},
): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
  await writeFileAtomicWith(
    dest,
    async (tmp) => {
      const fd = openSync(tmp, 'wx')
      try {
        writeAllSync(fd, bytes)
      } finally {
        closeSync(fd)
      }
    },
    options,
  )
}

/**
 * Writes `dest` atomically from what `produce` writes into a temporary file beside it (a stream
 * too large to hold, such as a zip of the images); the file is fsynced, then renamed into place.
 * @throws CamlabelError as writeFileAtomic
 */
export async function writeFileAtomicWith(
  dest: string,
  produce: (tmpFile: string) => Promise<void>,
  options: AtomicOptions = {},
): Promise<void> {
  const abs = path.resolve(dest)
  await checkOutput(abs, 'file', options)
  await sweepTemporaries(abs)
  const tmp = tempName(abs)
  try {
    await mkdir(path.dirname(abs), { recursive: true })
    await produce(tmp)
    const fd = openSync(tmp, 'r')
    try {
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    await rename(tmp, abs)
  } catch (err) {
    await rm(tmp, { force: true }).catch(() => undefined)
    throw fsError(err, abs)
  }
}

/**
 * Writes a folder export atomically: `fill(tmpDir)` writes everything into a temporary sibling
 * folder, which then replaces `dest` (the old folder is moved aside first and removed only once the
 * new one is in place). On failure the temporary folder is removed and the old export is untouched.
 * @throws CamlabelError ALREADY_EXISTS, DISK_FULL, INVALID_ARGUMENT
 */
export async function writeDirAtomic(
  dest: string,
  fill: (tmpDir: string) => Promise<void>,
  options: AtomicOptions = {},
): Promise<void> {
  const abs = path.resolve(dest)
  const present = await checkOutput(abs, 'folder', options)
  await sweepTemporaries(abs)
  const tmp = tempName(abs)
  try {
    await mkdir(tmp, { recursive: true })
    await fill(tmp)
  } catch (err) {
    await rm(tmp, { recursive: true, force: true }).catch(() => undefined)
    throw fsError(err, abs)
  }
  const old = present ? tempName(abs) + '.old' : undefined
  try {
    if (old) await rename(abs, old)
    await rename(tmp, abs)
  } catch (err) {
    if (old && !(await exists(abs))) await rename(old, abs).catch(() => undefined)
    await rm(tmp, { recursive: true, force: true })
    throw fsError(err, abs)
  }
  if (old) await rm(old, { recursive: true, force: true })
}

/**
 * Writes one file inside a folder being filled by writeDirAtomic. Not fsynced one by one (a 100 000
 * file export would crawl); the folder only becomes visible by the final rename.
 */
export async function writeFileInto(file: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true })
  await writeFile(file, data)
}

/** Errors of link(2) that mean "this file system (or this file) cannot be hard-linked here". */
const NO_LINK = new Set(['EXDEV', 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK', 'EACCES', 'ENOSYS'])

/** Errors that are about the source or the disk, not about cloning: a plain copy would fail too. */
const NOT_A_CLONE_PROBLEM = new Set(['ENOENT', 'EEXIST', 'ENOSPC', 'EDQUOT', 'EISDIR'])

/** How copyInto put a file in place. */
export type Placed = 'linked' | 'cloned' | 'copied'

/**
 * Puts a source file (an image) at `dest` inside a folder being filled by writeDirAtomic: a
 * copy-on-write clone where the file system offers one (instant, no extra space, and the copy is
 * its own file), else a plain copy. With `link`, a hard link first (instant, but the export's file
 * IS the project's: editing it in place changes the original). The source is never opened for
 * writing. Returns which.
 * @throws the file-system error when the source cannot be read (ENOENT…), for per-file reporting
 */
export async function copyInto(
  src: string,
  dest: string,
  options: { link?: boolean } = {},
): Promise<Placed> {
  await mkdir(path.dirname(dest), { recursive: true })
  if (options.link) {
    try {
      await link(src, dest)
      return 'linked'
    } catch (err) {
      if (!NO_LINK.has((err as NodeJS.ErrnoException).code ?? '')) throw err
    }
  }
  try {
    await copyFile(src, dest, constants.COPYFILE_FICLONE_FORCE | constants.COPYFILE_EXCL)
    return 'cloned'
  } catch (err) {
    if (NOT_A_CLONE_PROBLEM.has((err as NodeJS.ErrnoException).code ?? '')) throw err
  }
  await copyFile(src, dest, constants.COPYFILE_EXCL)
  return 'copied'
}

/**
 * copyInto with hard links allowed (kept for callers that want the old behaviour).
 * Returns 'cloned' as 'copied'.
 */
export async function linkOrCopyInto(src: string, dest: string): Promise<'linked' | 'copied'> {
  const r = await copyInto(src, dest, { link: true })
  return r === 'linked' ? 'linked' : 'copied'
}
