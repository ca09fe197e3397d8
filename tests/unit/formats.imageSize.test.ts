/**
 * The import's header reader uses the pixel limit proposal runs decode with, and says which file
 * and what to do. Real PNG headers read by sharp.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { deflateSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { DEFAULT_MAX_PIXELS } from '../../src/main/engine/preprocess.ts'
import { readImageSize } from '../../src/main/project/imageInfo.ts'

const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-imagesize-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})
function chunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  let c = 0xffffffff
  for (const b of body) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8)
  const out = Buffer.alloc(body.length + 8)
  out.writeUInt32BE(data.length, 0)
  body.copy(out, 4)
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0, body.length + 4)
  return out
}
/** A PNG whose header says width × height (grey, 8 bit); the pixel data is a stub. */
function pngHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 0 // greyscale
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(width + 1))),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

describe('readImageSize', () => {
  it('refuses from the header what a proposal run would refuse, naming the file and the way out', async () => {
    // 120 megapixels: under sharp's own limit (268 MP), over the one runs decode with (100 MP)
    const big = path.join(tmp, 'scan-120mp.png')
    writeFileSync(big, pngHeader(12_000, 10_000))
    expect(12_000 * 10_000).toBeGreaterThan(DEFAULT_MAX_PIXELS)
    const err = await readImageSize(big).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'IMAGE_TOO_LARGE' })
    expect((err as Error).message).toMatch(/^scan-120mp\.png: 12000x10000 pixels is over the limit/)
    expect((err as { hint?: string }).hint).toMatch(/Downscale/)

    const ok = path.join(tmp, 'fine.png')
    writeFileSync(ok, pngHeader(4000, 3000))
    expect(await readImageSize(ok)).toEqual({ width: 4000, height: 3000 })
  })

  it('names an unreadable file and says what to do', async () => {
    const bad = path.join(tmp, 'notes.jpg')
    writeFileSync(bad, 'hello')
    const err = await readImageSize(bad, 'photos/notes.jpg').then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'IMAGE_UNREADABLE' })
    expect((err as Error).message).toMatch(/^photos\/notes\.jpg: /)
    expect((err as { hint?: string }).hint).toMatch(/complete JPEG/)
  })
})
