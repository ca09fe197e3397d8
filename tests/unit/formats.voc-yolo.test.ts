import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { boxToVoc, parseVocXml, toVocXml, vocToBox } from '../../src/main/formats/voc.ts'
import {
  boxToYolo,
  parseClassesTxt,
  parseDataYaml,
  parseYoloLabels,
  seededSplit,
  toDataYaml,
  toYoloLabels,
  yoloToBox,
} from '../../src/main/formats/yolo.ts'
import { writeAllSync, writeFileAtomic } from '../../src/main/formats/atomicWrite.ts'
import { openSync, closeSync } from 'node:fs'
import { shared } from '../helpers/shared.ts'

const bad = shared('data/bad-inputs')
const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-vy-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))
const read = (f: string) => readFileSync(path.join(bad, f), 'utf8')

describe('VOC', () => {
  it('never writes xmin > xmax: a box thinner than a pixel keeps one pixel', () => {
    const v = boxToVoc({ x0: 10.5, y0: 3.6, x1: 11.4, y1: 4.4 })
    expect(v).toEqual({ xmin: 12, ymin: 5, xmax: 12, ymax: 5 })
    const back = vocToBox(v)
    expect(back.x1 - back.x0).toBe(1)
    expect(back.y1 - back.y0).toBe(1)
  })

  it('uses 1-based inclusive corners', () => {
    expect(boxToVoc({ x0: 0, y0: 0, x1: 10, y1: 20 })).toEqual({
      xmin: 1,
      ymin: 1,
      xmax: 10,
      ymax: 20,
    })
    expect(vocToBox({ xmin: 81, ymin: 88, xmax: 522, ymax: 408 })).toEqual({
      x0: 80,
      y0: 87,
      x1: 522,
      y1: 408,
    })
  })

  it('writes and reads back names with XML characters', () => {
    const xml = toVocXml({
      file: 'a & b/ü <1>.jpg',
      width: 50,
      height: 40,
      boxes: [{ box: { x0: 5, y0: 6, x1: 20, y1: 30 }, label: 'R&D "cat"' }],
    })
    const r = parseVocXml(xml)
    expect(r.filename).toBe('a & b/ü <1>.jpg')
    expect(r.objects).toEqual([{ label: 'R&D "cat"', box: { x0: 5, y0: 6, x1: 20, y1: 30 } }])
  })

  it('refuses xxe.xml without reading /etc/passwd', () => {
    expect(() => parseVocXml(read('annotations/xxe.xml'), 'xxe.xml')).toThrow(
      expect.objectContaining({
        code: 'PARSE_ERROR',
        message: expect.stringMatching(/xxe\.xml declares XML entities/),
      }),
    )
  })

  it('refuses billion-laughs.xml before expanding anything (bounded memory)', () => {
    const before = process.memoryUsage().heapUsed
    expect(() => parseVocXml(read('annotations/billion-laughs.xml'), 'billion-laughs.xml')).toThrow(
      /declares XML entities/,
    )
    // a generous bound; an expansion would need gigabytes
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(50 * 1024 * 1024)
  })

  it('reports malformed.xml with its line and column', () => {
    expect(() => parseVocXml(read('annotations/malformed.xml'), 'malformed.xml')).toThrow(
      /malformed\.xml is not well-formed XML at line \d+, column \d+/,
    )
  })

  it('clips box-outside.xml to the image with a warning', () => {
    const r = parseVocXml(read('annotations/box-outside.xml'), 'box-outside.xml')
    expect(r.objects).toEqual([{ label: 'raccoon', box: { x0: 80, y0: 87, x1: 650, y1: 408 } }])
    expect(r.problems[0].reason).toMatch(/reaches past the 650x417 image; clipped/)
  })

  it('keeps the escaping filename of traversal.xml as written (the importer refuses it)', () => {
    expect(parseVocXml(read('annotations/traversal.xml')).filename).toBe('../../../../etc/passwd')
  })
})

describe('YOLO', () => {
  it('converts normalised centres both ways', () => {
    expect(boxToYolo({ x0: 10, y0: 20, x1: 30, y1: 60 }, 100, 200)).toEqual([0.2, 0.2, 0.2, 0.2])
    const b = yoloToBox([0.2, 0.2, 0.2, 0.2], 100, 200)
    expect([b.x0, b.y0, b.x1, b.y1].map((v) => Math.round(v * 1e9) / 1e9)).toEqual([10, 20, 30, 60])
  })

  it('imports the valid line of the bad YOLO file and reports each bad line by number', () => {
    const classes = parseClassesTxt(read('yolo/classes.txt'))
    const r = parseYoloLabels(read('yolo/labels/raccoon-1.txt'), classes, 650, 417, 'raccoon-1.txt')
    expect(r.boxes).toEqual([
      { label: classes[0], box: { x0: 162.5, y0: 104.25, x1: 487.5, y1: 312.75 } },
    ])
    expect(r.problems.map((p) => p.line)).toEqual([2, 3, 4, 5])
    expect(r.problems[0].reason).toMatch(/unknown class 7/)
    expect(r.problems[1].reason).toMatch(/centre outside/)
    expect(r.problems[2].reason).toMatch(/not a number/)
    expect(r.problems[3].reason).toMatch(/5 fields/)
  })

  it('writes label lines and data.yaml that read back', () => {
    const idx = new Map([
      ['cat', 0],
      ['dog: big', 1],
    ])
    expect(
      toYoloLabels([{ box: { x0: 0, y0: 0, x1: 50, y1: 50 }, label: 'dog: big' }], 100, 100, idx),
    ).toBe('1 0.25 0.25 0.5 0.5\n')
    expect(parseDataYaml(toDataYaml(['cat', 'dog: big'], { train: 'train.txt' })).names).toEqual([
      'cat',
      'dog: big',
    ])
    expect(parseDataYaml("names: ['a', b]\n").names).toEqual(['a', 'b'])
    expect(parseDataYaml('nc: 2\nnames:\n  - x\n  - y\n').names).toEqual(['x', 'y'])
  })

  it('splits reproducibly by seed', () => {
    const a = seededSplit(100, 0.2, 7)
    expect(a.val).toHaveLength(20)
    expect(seededSplit(100, 0.2, 7)).toEqual(a)
    expect(seededSplit(100, 0.2, 8).val).not.toEqual(a.val)
    expect([...a.train, ...a.val].sort((x, y) => x - y)).toEqual(
      Array.from({ length: 100 }, (_, i) => i),
    )
  })
})

describe('atomic writes on a full disk', () => {
  it('maps ENOSPC (/dev/full) to DISK_FULL and leaves the old file intact', async () => {
    const fd = openSync('/dev/full', 'w')
    let err: unknown
    try {
      writeAllSync(fd, Buffer.from('x'.repeat(10000)))
    } catch (e) {
      err = e
    } finally {
      closeSync(fd)
    }
    expect((err as NodeJS.ErrnoException).code).toBe('ENOSPC')
    const { fsError } = await import('../../src/main/formats/atomicWrite.ts')
    expect(fsError(err, 'out.json')).toMatchObject({
      code: 'DISK_FULL',
      message: expect.stringMatching(/disk is full/),
    })
    const out = path.join(tmp, 'keep.json')
    writeFileSync(out, 'old')
    await expect(writeFileAtomic(out, 'new')).rejects.toMatchObject({ code: 'ALREADY_EXISTS' })
    expect(readFileSync(out, 'utf8')).toBe('old')
  })
})
