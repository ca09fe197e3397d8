/**
 * A fast content fingerprint to notice that an image file changed since import, without reading
 * whole files (100 000 photos would take minutes): sha1 over the size and the first and last 64 KiB.
 * Re-encoding, cropping or replacing a photo changes the size or the head/tail bytes (JPEG headers,
 * EXIF, entropy-coded data near the end); an edit confined to the middle of a large file with the
 * same size is not noticed, which is the accepted trade-off. The mtime is stored beside it so a
 * re-scan can skip hashing files whose size and mtime did not change.
 */
import { createHash } from 'node:crypto'
import { open } from 'node:fs/promises'

export const HASH_CHUNK = 64 * 1024

/** Size, mtime (ms) and the fingerprint 'sha1:<hex>' of a file. */
export async function fileFingerprint(
  file: string,
): Promise<{ size: number; mtimeMs: number; hash: string }> {
  const fh = await open(file, 'r')
  try {
    const st = await fh.stat()
    const h = createHash('sha1')
    h.update(`${st.size}:`)
    const head = Buffer.alloc(Math.min(HASH_CHUNK, st.size))
    await fh.read(head, 0, head.length, 0)
    h.update(head)
    if (st.size > HASH_CHUNK) {
      const tailLen = Math.min(HASH_CHUNK, st.size - HASH_CHUNK)
      const tail = Buffer.alloc(tailLen)
      await fh.read(tail, 0, tailLen, st.size - tailLen)
      h.update(tail)
    }
    return { size: st.size, mtimeMs: Math.round(st.mtimeMs), hash: 'sha1:' + h.digest('hex') }
  } finally {
    await fh.close()
  }
}
