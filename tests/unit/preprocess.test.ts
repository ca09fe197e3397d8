import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'
import { beforeAll, describe, expect, it } from 'vitest'
import { fromHalf, toHalf } from '../../src/main/engine/float16.ts'
import {
  decodeForDisplaySize,
  prepareImage,
  type PreparedImage,
} from '../../src/main/engine/preprocess.ts'
import { preprocessingRevision } from '../../src/main/engine/revision.ts'
import type { Preprocessing } from '../../src/main/engine/types.ts'
import { resizeBilinear } from '../../src/shared/cam/upscale.ts'

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const shared = path.resolve(repoRoot, '../shared')
const bad = path.join(shared, 'data/bad-inputs/images')
const raccoon1 = path.join(shared, 'data/raccoon/images/raccoon-1.jpg')

beforeAll(() => {
  if (!existsSync(bad) || !existsSync(raccoon1)) {
    throw new Error(`The shared test data is missing: expected ${bad} and ${raccoon1}`)
  }
})

/** SqueezeNet 1.1 fp16: BGR, 0..255 minus the Caffe mean, float16. */
const squeezenet: Preprocessing = {
  width: 224,
  height: 224,
  channelOrder: 'BGR',
  scale: 1,
  mean: [104, 117, 123],
  std: [1, 1, 1],
  dtype: 'float16',
}

/** MobileNetV2: RGB, /255, ImageNet mean/std, float32. */
const mobilenet: Preprocessing = {
  width: 224,
  height: 224,
  channelOrder: 'RGB',
  scale: 1 / 255,
  mean: [0.485, 0.456, 0.406],
  std: [0.229, 0.224, 0.225],
  dtype: 'float32',
}

/** Identity preprocessing: the tensor holds the 8-bit RGB values of a w×h resize. */
const raw = (width: number, height: number): Preprocessing => ({
  width,
  height,
  channelOrder: 'RGB',
  scale: 1,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  dtype: 'float32',
})

function meanAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length)
  let s = 0
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!)
  return s / a.length
}

async function png(width: number, height: number, channels: 1 | 3 | 4, pixels: number[]) {
  return sharp(Buffer.from(pixels), { raw: { width, height, channels } }).png().toBuffer()
}

describe('prepareImage: tensor layout and normalisation', () => {
  it('writes NCHW planes in the model’s channel order with scale, mean and std', async () => {
    // 2×1 image: (10,20,30) (200,100,0); no resize, so the values are exact.
    const input = await png(2, 1, 3, [10, 20, 30, 200, 100, 0])
    const rgb = await prepareImage(input, { ...mobilenet, width: 2, height: 1 })
    expect(rgb.dims).toEqual([1, 3, 1, 2])
    expect(rgb.tensor).toBeInstanceOf(Float32Array)
    const expected = [
      [10, 200].map((v) => (v / 255 - 0.485) / 0.229),
      [20, 100].map((v) => (v / 255 - 0.456) / 0.224),
      [30, 0].map((v) => (v / 255 - 0.406) / 0.225),
    ].flat()
    Array.from(rgb.tensor).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5))

    const bgr = await prepareImage(input, { ...squeezenet, width: 2, height: 1 })
    expect(bgr.tensor).toBeInstanceOf(Uint16Array)
    // B plane first, then G, then R, each minus its mean, as float16 bit patterns.
    const halves = [30 - 104, 0 - 104, 20 - 117, 100 - 117, 10 - 123, 200 - 123].map(toHalf)
    expect(Array.from(bgr.tensor)).toEqual(halves)
    expect(Array.from(bgr.tensor).map(fromHalf)).toEqual([-74, -104, -97, -17, -113, 77])
  })

  it('resizes to the model size without keeping the aspect ratio', async () => {
    // 4×2 image, left half black, right half white → 2×2: one black and one white column.
    const input = await png(4, 2, 1, [0, 0, 255, 255, 0, 0, 255, 255])
    const r = await prepareImage(input, raw(2, 2))
    expect(r.dims).toEqual([1, 3, 2, 2])
    expect(r.width).toBe(4)
    expect(r.height).toBe(2)
    // Each channel [dark light; dark light]: the 2:1 image was squeezed, not cropped or padded.
    // (libvips' linear kernel anti-aliases a 2× shrink, so the edges blend by 1/8: 32 and 223.)
    const t = Array.from(r.tensor)
    for (let c = 0; c < 3; c++) {
      const [a, b, d, e] = t.slice(c * 4, c * 4 + 4)
      expect([a, d].every((v) => v! < 40)).toBe(true)
      expect([b, e].every((v) => v! > 215)).toBe(true)
    }
  })

  it('flattens transparency onto white', async () => {
    // transparent black, opaque red, half-transparent black
    const input = await png(3, 1, 4, [0, 0, 0, 0, 255, 0, 0, 255, 0, 0, 0, 128])
    const r = await prepareImage(input, raw(3, 1))
    const [R, G, B] = [0, 1, 2].map((c) => Array.from(r.tensor.subarray(c * 3, c * 3 + 3)))
    expect(R!.slice(0, 2)).toEqual([255, 255])
    expect(G!.slice(0, 2)).toEqual([255, 0])
    expect(B!.slice(0, 2)).toEqual([255, 0])
    expect(R![2]).toBeGreaterThan(120)
    expect(R![2]).toBeLessThan(135)
  })

  it('stays within 1/255 of OpenCV INTER_LINEAR on an ImageNet-sized photo (227 → 224)', async () => {
    const file = path.join(shared, 'data/imagenet-val-dev/images/ILSVRC2012_val_00000363.JPEG')
    const full = await sharp(file).toColourspace('srgb').raw().toBuffer({ resolveWithObject: true })
    const { width: w, height: h } = full.info
    const r = await prepareImage(file, raw(224, 224))
    for (let c = 0; c < 3; c++) {
      const plane = new Float32Array(w * h)
      for (let i = 0; i < w * h; i++) plane[i] = full.data[i * 3 + c]!
      const cv = resizeBilinear({ data: plane, width: w, height: h }, 224, 224).data.map(Math.round)
      expect(meanAbsDiff(r.tensor.subarray(c * 224 * 224, (c + 1) * 224 * 224), cv)).toBeLessThan(1)
    }
  })
})

describe('prepareImage: the awkward inputs of bad-inputs/CASES.md', () => {
  let reference: PreparedImage
  beforeAll(async () => {
    reference = await prepareImage(raccoon1, raw(224, 224), { guideSize: 650 })
  })

  it('exif-rotated.jpg comes out upright, 650×417, like raccoon-1.jpg', async () => {
    const r = await prepareImage(path.join(bad, 'exif-rotated.jpg'), raw(224, 224), {
      guideSize: 650,
    })
    expect([r.width, r.height]).toEqual([650, 417])
    expect([r.guide!.width, r.guide!.height]).toEqual([650, 417])
    // Same photo, re-encoded: close pixel for pixel only if it is the right way up.
    expect(meanAbsDiff(r.guide!.data, reference.guide!.data)).toBeLessThan(4)
    expect(meanAbsDiff(r.tensor, reference.tensor)).toBeLessThan(4)
    expect(await decodeForDisplaySize(path.join(bad, 'exif-rotated.jpg'))).toEqual({
      width: 650,
      height: 417,
    })
  })

  it('cmyk.jpg is converted to sRGB and looks like the original', async () => {
    const r = await prepareImage(path.join(bad, 'cmyk.jpg'), raw(224, 224))
    expect([r.width, r.height]).toEqual([650, 417])
    expect(meanAbsDiff(r.tensor, reference.tensor)).toBeLessThan(20)
    expect(r.warnings.join()).toMatch(/CMYK/)
  })

  it('grayscale.png and sixteen-bit.png are replicated to three equal channels at full range', async () => {
    const grey = await prepareImage(path.join(bad, 'grayscale.png'), raw(224, 224))
    const deep = await prepareImage(path.join(bad, 'sixteen-bit.png'), raw(224, 224))
    const plane = 224 * 224
    for (const r of [grey, deep]) {
      expect([r.width, r.height]).toEqual([650, 417])
      expect(Array.from(r.tensor.subarray(0, plane))).toEqual(
        Array.from(r.tensor.subarray(plane, 2 * plane)),
      )
      expect(Array.from(r.tensor.subarray(0, plane))).toEqual(
        Array.from(r.tensor.subarray(2 * plane)),
      )
    }
    // The 16-bit file holds 8-bit values (max 246 of 65535): scaled as 8-bit data, not turned
    // black by keeping the top byte, so the two files give the same picture.
    expect(meanAbsDiff(deep.tensor, grey.tensor)).toBeLessThan(1)
    const darkest = Array.from(deep.tensor).reduce((a, b) => Math.min(a, b), 255)
    const lightest = Array.from(deep.tensor).reduce((a, b) => Math.max(a, b), 0)
    expect(darkest).toBeLessThan(40)
    expect(lightest).toBeGreaterThan(200)
    expect(deep.warnings.join()).toMatch(/only 8 bits \(max 246\)/)
  })

  it('alpha.png is processed with its transparency flattened', async () => {
    const r = await prepareImage(path.join(bad, 'alpha.png'), squeezenet)
    expect([r.width, r.height]).toEqual([650, 417])
    expect(r.tensor.length).toBe(3 * 224 * 224)
  })

  it('one-pixel.png is processed into a constant tensor, with a warning', async () => {
    const r = await prepareImage(path.join(bad, 'one-pixel.png'), raw(224, 224), { guideSize: 512 })
    expect([r.width, r.height]).toEqual([1, 1])
    for (let c = 0; c < 3; c++) {
      const p = r.tensor.subarray(c * 224 * 224, (c + 1) * 224 * 224)
      expect(p.every((v) => v === p[0])).toBe(true)
    }
    expect([r.guide!.width, r.guide!.height]).toEqual([1, 1])
    expect(r.warnings.join()).toMatch(/1×1/)
  })

  it('very-wide.jpg (6000×40) is processed, with a guide of 512×3', async () => {
    const r = await prepareImage(path.join(bad, 'very-wide.jpg'), squeezenet, { guideSize: 512 })
    expect([r.width, r.height]).toEqual([6000, 40])
    expect([r.guide!.width, r.guide!.height]).toEqual([512, 3])
    expect(r.guide!.data.length).toBe(512 * 3 * 3)
    expect(r.warnings.join()).toMatch(/aspect ratio 150:1/)
  })

  it('a name with spaces, & and non-ASCII letters works', async () => {
    const file = path.join(bad, 'name with spaces & ünïcode.jpg')
    const r = await prepareImage(file, mobilenet)
    expect([r.width, r.height]).toEqual([800, 573])
    expect(await decodeForDisplaySize(file)).toEqual({ width: 800, height: 573 })
  })

  it('bomb.png (100000×100000 in its header) is refused before decoding, without a memory spike', async () => {
    const file = path.join(bad, 'bomb.png')
    const before = process.memoryUsage().rss
    const err = await prepareImage(file, squeezenet).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'IMAGE_TOO_LARGE' })
    expect((err as Error).message).toContain('bomb.png: 100000×100000 pixels')
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 1024 * 1024)
  })

  it.each([
    ['empty.jpg', /empty/],
    ['not-an-image.jpg', /not an image/],
    ['README.txt', /not an image/],
    ['truncated.jpg', /truncated/],
  ])('%s gets IMAGE_UNREADABLE naming the file and the reason', async (name, reason) => {
    const err = await prepareImage(path.join(bad, name), squeezenet).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'IMAGE_UNREADABLE' })
    expect((err as Error).message).toContain(name)
    expect((err as Error).message).toMatch(reason)
    expect((err as { hint?: string }).hint).toBeTruthy()
    // The display size comes from the header alone: a truncated JPEG still has one.
    const size = decodeForDisplaySize(path.join(bad, name))
    if (name === 'truncated.jpg') await expect(size).resolves.toEqual({ width: 650, height: 417 })
    else await expect(size).rejects.toMatchObject({ code: 'IMAGE_UNREADABLE' })
  })

  it('a missing file is NOT_FOUND', async () => {
    await expect(prepareImage(path.join(bad, 'no-such.jpg'), squeezenet)).rejects.toMatchObject({
      code: 'NOT_FOUND',
    })
  })
})

describe('prepareImage: budgets', () => {
  it('refuses an image over maxPixels from its header', async () => {
    const err = await prepareImage(raccoon1, squeezenet, { maxPixels: 100_000 }).catch(
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'IMAGE_TOO_LARGE' })
    expect((err as Error).message).toMatch(/650×417 pixels is over the limit of 0.1 megapixels/)
  })

  it('refuses a file over maxBytes before reading it', async () => {
    const err = await prepareImage(raccoon1, squeezenet, { maxBytes: 1000 }).catch(
      (e: unknown) => e,
    )
    expect(err).toMatchObject({ code: 'IMAGE_TOO_LARGE' })
    expect((err as Error).message).toMatch(/over the limit of 1000 bytes/)
  })

  it('accepts a Buffer as input and names it in errors', async () => {
    const buffer = readFileSync(raccoon1)
    const r = await prepareImage(buffer, squeezenet)
    expect([r.width, r.height]).toEqual([650, 417])
    await expect(
      prepareImage(Buffer.from('hello'), squeezenet, { name: 'upload-1' }),
    ).rejects.toThrow(/^upload-1: not an image/)
  })

  it('refuses preprocessing it cannot apply', async () => {
    await expect(prepareImage(raccoon1, { ...squeezenet, std: [1, 0, 1] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
    })
  })
})

describe('preprocessingRevision', () => {
  it('is a short stable stamp that changes with the model and its preprocessing', () => {
    const a = preprocessingRevision('squeezenet1.1-fp16', squeezenet)
    expect(a).toMatch(/^[0-9a-f]{16}$/)
    expect(preprocessingRevision('squeezenet1.1-fp16', { ...squeezenet })).toBe(a)
    expect(preprocessingRevision('mobilenetv2-12-int8', squeezenet)).not.toBe(a)
    expect(
      preprocessingRevision('squeezenet1.1-fp16', { ...squeezenet, channelOrder: 'RGB' }),
    ).not.toBe(a)
    expect(
      preprocessingRevision('squeezenet1.1-fp16', { ...squeezenet, mean: [104, 117, 124] }),
    ).not.toBe(a)
    expect(
      preprocessingRevision('squeezenet1.1-fp16', { ...squeezenet, dtype: 'float32' }),
    ).not.toBe(a)
  })
})
