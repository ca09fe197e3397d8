/**
 * Hostile and odd inputs to the readers (docs/SECURITY.md): each gives a clear message with the
 * file and place named and none of its content quoted, or is read correctly.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import sharp from 'sharp'
import { afterAll, describe, expect, it } from 'vitest'
import { parseCoco } from '../../src/main/formats/coco.ts'
import { MAX_DEPTH, parseJsonFile } from '../../src/main/formats/json.ts'
import { IMAGE_FORMATS, isImageFile } from '../../src/main/formats/paths.ts'
import { parseVocXml, xmlText } from '../../src/main/formats/voc.ts'
import { parseDataYaml, parseYoloLabels } from '../../src/main/formats/yolo.ts'
import { importProject } from '../../src/main/project/importProject.ts'
import { ProjectStore } from '../../src/main/store/projectStore.ts'
import { toErrorData } from '../../src/shared/errors.ts'
import { isExternalLink } from '../../src/shared/links.ts'

const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-hostile-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

const failure = (fn: () => unknown): Error & { hint?: string } => {
  try {
    fn()
  } catch (err) {
    return err as Error
  }
  throw new Error('expected a failure')
}

describe('JSON files', () => {
  it('names the exact line and column of a NaN, without quoting the file', () => {
    const text =
      '{\n  "images": [],\n  "categories": [{"id": 1, "name": "secret-cat", "x": NaN}]\n}'
    const e = failure(() => parseCoco(text, 'nan.json'))
    const column = text.split('\n')[2]!.indexOf('NaN') + 1
    expect(e.message).toBe(
      `nan.json is not valid JSON at line 3, column ${column}: unexpected 'N' where a value belongs (NaN, Infinity and comments are not JSON)`,
    )
    expect(e.message).not.toContain('secret-cat')
    expect(e.hint).not.toMatch(/truncated/)
  })

  it('a file cut short says so; a UTF-8 byte-order mark is fine', () => {
    expect(failure(() => parseJsonFile('{"images": [1, 2', 'cut.json')).hint).toMatch(
      /ends too early/,
    )
    expect(parseCoco('\ufeff{"images": [], "categories": []}', 'bom.json').classes).toEqual([])
  })

  it('five million nested arrays: refused at the depth limit, naming the file (no stack overflow)', () => {
    const e = failure(() => parseJsonFile('['.repeat(5_000_000), 'deep.json'))
    expect(e.message).toBe(
      `deep.json is not valid JSON at line 1, column ${MAX_DEPTH + 1}: arrays and objects nest more than ${MAX_DEPTH} deep`,
    )
  })
})

describe('COCO with the same image twice', () => {
  it('imports the boxes of both entries and reports it once', async () => {
    const root = path.join(tmp, 'twice')
    const { mkdirSync } = await import('node:fs')
    mkdirSync(root)
    await sharp({ create: { width: 60, height: 40, channels: 3, background: '#888' } })
      .jpeg()
      .toFile(path.join(root, 'a.jpg'))
    const coco = path.join(tmp, 'twice.json')
    writeFileSync(
      coco,
      JSON.stringify({
        images: [
          { id: 1, file_name: 'a.jpg', width: 60, height: 40 },
          { id: 2, file_name: 'a.jpg', width: 60, height: 40 },
        ],
        categories: [{ id: 1, name: 'cat' }],
        annotations: [
          { id: 1, image_id: 1, category_id: 1, bbox: [1, 1, 10, 10] },
          { id: 2, image_id: 2, category_id: 1, bbox: [20, 5, 10, 10] },
        ],
      }),
    )
    const store = ProjectStore.create(path.join(tmp, 'twice.camlabel'), root)
    const r = await importProject(store, { labels: { kind: 'coco', path: coco } })
    expect(r.boxes).toBe(2)
    expect(r.problems).toEqual([
      {
        file: 'twice.json',
        message: 'a.jpg is listed 2 times (image ids 1, 2); the boxes of all are imported',
      },
    ])
    store.close()
  })
})

describe('XML', () => {
  const voc = (body: string) =>
    `<annotation><filename>a.jpg</filename><size><width>60</width><height>40</height></size>${body}<object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>9</xmax><ymax>9</ymax></bndbox></object></annotation>`

  it('an entity named in a comment declares nothing; a real declaration is still refused', () => {
    expect(parseVocXml(voc('<!-- no <!ENTITY here -->'), 'c.xml').objects).toHaveLength(1)
    expect(() => parseVocXml(`<!DOCTYPE a [<!ENTITY x "y">]>${voc('')}`, 'd.xml')).toThrow(
      /declares XML entities/,
    )
  })

  it('UTF-16 files (either byte order) read as UTF-8 ones do', () => {
    const text = voc('')
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')])
    const be = Buffer.from(le)
    be.swap16()
    for (const bytes of [le, be, Buffer.from('\ufeff' + text, 'utf8')])
      expect(parseVocXml(xmlText(bytes), 'u.xml').objects.map((o) => o.label)).toEqual(['cat'])
  })
})

describe('YOLO', () => {
  it('a segmentation line (a polygon) becomes the box around it, not four coordinates misread', () => {
    const r = parseYoloLabels(
      '0 0.1 0.2 0.5 0.2 0.5 0.6 0.1 0.6\n0 0.1 0.2 0.3\n',
      ['cat'],
      100,
      50,
    )
    expect(r.boxes).toEqual([{ label: 'cat', box: { x0: 10, y0: 10, x1: 50, y1: 30 } }])
    expect(r.problems.map((p) => p.line)).toEqual([2])
  })

  it('data.yaml is read by a YAML library: anchors resolve, broken YAML names the line', () => {
    const yaml = 'base: &names\n  0: cat\n  1: dog\nnames: *names\n'
    expect(parseDataYaml(yaml).names).toEqual(['cat', 'dog'])
    expect(parseDataYaml('names: [cat, "dog"]\n').names).toEqual(['cat', 'dog'])
    expect(() => parseDataYaml('names: [cat\nnc: 2\n', 'bad.yaml').names).toThrow(
      /bad\.yaml is not valid YAML at line \d+/,
    )
  })
})

describe('image formats', () => {
  it('every listed format is one sharp decodes; BMP is not listed', async () => {
    const formats = Object.values(sharp.format).filter((f) => f.input.file)
    const decoded = new Set(formats.flatMap((f) => f.input.fileSuffix ?? []))
    for (const f of IMAGE_FORMATS)
      for (const ext of f.extensions) expect(decoded.has(ext), ext).toBe(true)
    expect(isImageFile('x.bmp')).toBe(false)
  })

  it('GIF and AVIF photos are imported and read like the others', async () => {
    const root = path.join(tmp, 'formats')
    const { mkdirSync } = await import('node:fs')
    mkdirSync(path.join(root, 'cat'), { recursive: true })
    const img = sharp({ create: { width: 48, height: 32, channels: 3, background: '#a33' } })
    await img
      .clone()
      .gif()
      .toFile(path.join(root, 'cat', 'a.gif'))
    await img
      .clone()
      .avif()
      .toFile(path.join(root, 'cat', 'b.avif'))
    const store = ProjectStore.create(path.join(tmp, 'formats.camlabel'), root)
    const r = await importProject(store, { labels: { kind: 'folders' } })
    expect(r).toMatchObject({ imported: 2, problems: [] })
    expect(store.images.byFile('cat/b.avif')).toMatchObject({ width: 48, height: 32 })
    store.close()
  })
})

describe('errors speak plainly', () => {
  it('a full disk and a busy or read-only project file are said so, not as raw SQLite codes', () => {
    expect(toErrorData({ code: 'SQLITE_FULL', message: 'database or disk is full' }).code).toBe(
      'DISK_FULL',
    )
    expect(toErrorData({ code: 'SQLITE_BUSY', message: 'database is locked' })).toMatchObject({
      code: 'PROJECT_BUSY',
      message: expect.stringMatching(/another camlabel process/),
    })
    expect(toErrorData({ code: 'SQLITE_READONLY', message: 'attempt to write' }).code).toBe(
      'READ_ONLY',
    )
  })

  it('the app opens only its own links in the browser', () => {
    expect(isExternalLink('https://arxiv.org/abs/1512.04150')).toBe(true)
    expect(isExternalLink('https://evil.example/')).toBe(false)
    expect(isExternalLink('https://arxiv.org/abs/1512.04150?x=1')).toBe(false)
  })
})
