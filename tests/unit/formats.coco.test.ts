import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { boxToCoco, cocoToBox, parseCoco, toCoco, writeCoco } from '../../src/main/formats/coco.ts'
import type { Dataset } from '../../src/main/formats/dataset.ts'
import { shared } from '../helpers/shared.ts'

const bad = shared('data/bad-inputs')
const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-coco-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const dataset: Dataset = {
  classes: ['raccoon', 'cat'],
  images: [
    {
      file: 'a/x y.jpg',
      width: 100,
      height: 50,
      boxes: [{ box: { x0: 10, y0: 5, x1: 30.333, y1: 45 }, label: 'cat' }],
    },
    {
      file: 'b.png',
      width: 20,
      height: 20,
      boxes: [{ box: { x0: 0, y0: 0, x1: 20, y1: 20 }, label: 'raccoon', score: 0.87654 }],
    },
  ],
}

describe('COCO conversions', () => {
  it('[x,y,w,h] ↔ Box', () => {
    expect(cocoToBox([10, 5, 20, 40])).toEqual({ x0: 10, y0: 5, x1: 30, y1: 45 })
    expect(boxToCoco({ x0: 10, y0: 5, x1: 30.333, y1: 45 })).toEqual([10, 5, 20.33, 40])
  })
})

describe('toCoco', () => {
  it('writes categories in class order with ids 1..n, bbox, area, iscrowd and score', () => {
    const c = toCoco(dataset)
    expect(c.categories.map((x) => [x.id, x.name])).toEqual([
      [1, 'raccoon'],
      [2, 'cat'],
    ])
    expect(c.images.map((x) => [x.id, x.file_name])).toEqual([
      [1, 'a/x y.jpg'],
      [2, 'b.png'],
    ])
    expect(c.annotations[0]).toEqual({
      id: 1,
      image_id: 1,
      category_id: 2,
      segmentation: [],
      bbox: [10, 5, 20.33, 40],
      area: 813.2,
      iscrowd: 0,
    })
    expect(c.annotations[1].score).toBe(0.8765)
    expect(c.annotations[1].category_id).toBe(1)
  })

  it('round-trips through parseCoco', () => {
    const back = parseCoco(JSON.stringify(toCoco(dataset)))
    expect(back.problems).toEqual([])
    expect(back.classes).toEqual(['raccoon', 'cat'])
    expect(back.images[0].boxes[0].box.x1).toBeCloseTo(30.33, 2)
    expect(back.images[1].boxes[0]).toMatchObject({ label: 'raccoon', score: 0.8765 })
  })

  it('writes atomically and refuses to overwrite unless asked', async () => {
    const out = path.join(tmp, 'out.json')
    await writeCoco(dataset, out)
    const first = readFileSync(out, 'utf8')
    await expect(writeCoco({ classes: [], images: [] }, out)).rejects.toMatchObject({
      code: 'ALREADY_EXISTS',
    })
    expect(readFileSync(out, 'utf8')).toBe(first)
    await writeCoco({ classes: [], images: [] }, out, { overwrite: true })
    expect(JSON.parse(readFileSync(out, 'utf8')).images).toEqual([])
  })
})

describe('parseCoco on bad inputs', () => {
  it('reports every problem of awkward.coco.json and keeps what is valid', () => {
    const r = parseCoco(
      readFileSync(path.join(bad, 'awkward.coco.json'), 'utf8'),
      'awkward.coco.json',
    )
    // zero-based id 0 is a valid id; the second category reusing it is reported
    expect(r.classes).toEqual(['zero-based'])
    expect(r.problems.some((p) => /duplicate category id 0/.test(p.reason))).toBe(true)
    // A reused annotation id loses nothing: one problem says so, every annotation is read.
    expect(r.problems.filter((p) => /annotation ids are not unique/.test(p.reason))).toEqual([
      expect.objectContaining({
        reason: expect.stringMatching(
          /1 annotation\(s\) reuse an id \(first: 1\); every one was read/,
        ),
      }),
    ])
    const ann = r.problems.find((p) => /annotation 1:/.test(p.reason))!
    expect(ann.reason).toMatch(/unknown image_id 7/)
    expect(ann.reason).toMatch(/unknown category_id 3/)
    expect(ann.reason).toMatch(/non-positive width/)
    const onePixel = r.images.find((i) => i.file === 'images/one-pixel.png')!
    expect(onePixel.boxes).toEqual([{ box: { x0: 0, y0: 0, x1: 5, y1: 5 }, label: 'zero-based' }])
    // the escaping path is kept as written: the importer checks it against the root
    expect(r.images.map((i) => i.file)).toContain('../outside.jpg')
  })

  it('gives a PARSE_ERROR with line and column for truncated JSON', () => {
    const text = readFileSync(path.join(bad, 'truncated.coco.json'), 'utf8')
    expect(() => parseCoco(text, 'truncated.coco.json')).toThrow(
      /truncated\.coco\.json is not valid JSON at line \d+, column \d+/,
    )
    try {
      parseCoco(text)
    } catch (e) {
      expect((e as { code: string }).code).toBe('PARSE_ERROR')
    }
  })

  it('refuses JSON that is not COCO', () => {
    writeFileSync(path.join(tmp, 'x.json'), '{"a":1}')
    expect(() => parseCoco('{"a":1}')).toThrow(/needs 'images' and 'categories'/)
  })
})
