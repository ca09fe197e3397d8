/**
 * Zip archives for exports that tools take as one upload (CVAT's and Label Studio's COCO import):
 * streamed with yazl, so an archive of 100 000 images is never held in memory; images are stored
 * (already compressed), text deflated; ZIP64 where sizes need it.
 */
import { createWriteStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { ZipFile } from 'yazl'

/** One entry: a file to copy in, or text. `name` is the posix path inside the archive. */
export type ZipEntry = { name: string; file: string } | { name: string; text: string }

/** Writes the archive to `file` (created, never replaced: the caller writes a temporary file). */
export async function writeZip(
  file: string,
  entries: Iterable<ZipEntry>,
  comment: string,
): Promise<void> {
  const zip = new ZipFile()
  const out = createWriteStream(file, { flags: 'wx' })
  const done = pipeline(zip.outputStream, out)
  for (const e of entries) {
    if ('file' in e) zip.addFile(e.file, e.name, { compress: false })
    else zip.addBuffer(Buffer.from(e.text, 'utf8'), e.name, { compress: true })
  }
  zip.end({ comment, forceZip64Format: false })
  await done
}

/** The archive comment of a zip file's bytes (its end record), or undefined when it has none. */
export function zipComment(tail: Buffer): string | undefined {
  // End of central directory: signature 0x06054b50, comment length at +20, comment at +22.
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) !== 0x06054b50) continue
    const n = tail.readUInt16LE(i + 20)
    if (i + 22 + n === tail.length) return tail.subarray(i + 22, i + 22 + n).toString('utf8')
  }
  return undefined
}
