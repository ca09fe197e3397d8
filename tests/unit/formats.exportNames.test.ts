import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { copyInto, linkOrCopyInto } from '../../src/main/formats/atomicWrite.ts'
import { exportNames, exportStem } from '../../src/main/formats/exportNames.ts'

const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-names-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('exportNames', () => {
  it('keeps names unless two images would share a stem (case-insensitively)', () => {
    const names = exportNames(['a.jpg', 'a.png', 'b/c.jpg', 'A.webp', 'a_2.jpg', 'x y/ü.jpg'])
    expect(names).toEqual(['a.jpg', 'a_2.png', 'b/c.jpg', 'A_3.webp', 'a_2_2.jpg', 'x y/ü.jpg'])
    expect(new Set(names.map((n) => exportStem(n).toLowerCase())).size).toBe(names.length)
  })

  it("for YOLO renames folders called 'images', so /images/ → /labels/ finds the label", () => {
    const names = exportNames(['images/a.jpg', 'x/images/b.png', 'images.jpg'], {
      avoidImagesFolder: true,
    })
    expect(names).toEqual(['images_/a.jpg', 'x/images_/b.png', 'images.jpg'])
    expect(exportNames(['images/a.jpg'])).toEqual(['images/a.jpg'])
  })
})

describe('copyInto', () => {
  it('by default gives the export a file of its own: editing it leaves the source as it was', async () => {
    const src = path.join(tmp, 'own.bin')
    writeFileSync(src, 'original pixels')
    const dest = path.join(tmp, 'own-out/dest.bin')
    expect(['cloned', 'copied']).toContain(await copyInto(src, dest))
    expect(statSync(dest).ino).not.toBe(statSync(src).ino)
    writeFileSync(dest, 'edited in the export')
    expect(readFileSync(src, 'utf8')).toBe('original pixels')
  })

  it('hard-links only when asked', async () => {
    const src = path.join(tmp, 'linked.bin')
    writeFileSync(src, 'pixels')
    const dest = path.join(tmp, 'linked-out/dest.bin')
    expect(await copyInto(src, dest, { link: true })).toBe('linked')
    expect(statSync(dest).ino).toBe(statSync(src).ino)
  })

  it('throws for a missing source rather than trying a plain copy of nothing', async () => {
    await expect(copyInto(path.join(tmp, 'nope.jpg'), path.join(tmp, 'o2.jpg'))).rejects.toThrow(
      /ENOENT/,
    )
  })
})

describe('linkOrCopyInto', () => {
  it('hard-links on the same file system, leaving the source as it was', async () => {
    const src = path.join(tmp, 'src.bin')
    writeFileSync(src, Buffer.from([1, 2, 3, 4]))
    const before = statSync(src)
    const dest = path.join(tmp, 'out/deep/dest.bin')
    expect(await linkOrCopyInto(src, dest)).toBe('linked')
    expect(statSync(dest).ino).toBe(before.ino)
    expect(readFileSync(dest)).toEqual(readFileSync(src))
    expect(statSync(src).mtimeMs).toBe(before.mtimeMs)
  })

  it('copies across file systems (/dev/shm is another one here)', async (ctx) => {
    let shm: string
    try {
      shm = mkdtempSync('/dev/shm/camlabel-')
    } catch {
      return ctx.skip()
    }
    try {
      if (statSync(shm).dev === statSync(tmp).dev) return ctx.skip()
      const src = path.join(tmp, 'src2.bin')
      writeFileSync(src, 'pixels')
      const dest = path.join(shm, 'dest.bin')
      expect(await linkOrCopyInto(src, dest)).toBe('copied')
      expect(readFileSync(dest, 'utf8')).toBe('pixels')
    } finally {
      rmSync(shm, { recursive: true, force: true })
    }
  })

  it('throws for a missing source (the caller reports it per file)', async () => {
    await expect(
      linkOrCopyInto(path.join(tmp, 'nope.jpg'), path.join(tmp, 'o.jpg')),
    ).rejects.toThrow(/ENOENT/)
  })
})
