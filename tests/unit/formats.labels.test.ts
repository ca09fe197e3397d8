import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { parseCsv } from '../../src/main/formats/csv.ts'
import { readLabelsCsv } from '../../src/main/formats/labelsCsv.ts'
import { readFolderPerClass } from '../../src/main/formats/folderPerClass.ts'
import { scanImageFolder } from '../../src/main/formats/scan.ts'
import { shared } from '../helpers/shared.ts'

const bad = shared('data/bad-inputs')

const tmp = mkdtempSync(path.join(tmpdir(), 'camlabel-labels-'))
afterAll(() => rmSync(tmp, { recursive: true, force: true }))

describe('parseCsv', () => {
  it('handles quotes, escaped quotes, embedded newlines, CRLF and a BOM, with start lines', () => {
    const recs = parseCsv(
      '\ufefffile,label\r\n"a, b.jpg","say ""hi"""\r\n\r\n"multi\nline.jpg",x\nlast.jpg,y',
    )
    expect(recs).toEqual([
      { line: 1, fields: ['file', 'label'] },
      { line: 2, fields: ['a, b.jpg', 'say "hi"'] },
      { line: 4, fields: ['multi\nline.jpg', 'x'] },
      { line: 6, fields: ['last.jpg', 'y'] },
    ])
  })
})

describe('readLabelsCsv on the bad-inputs labels.csv', () => {
  it('returns the good rows and reports each broken row with its line', async () => {
    const { rows, problems } = await readLabelsCsv(path.join(bad, 'labels.csv'))
    const files = rows.map((r) => r.file)
    expect(files).toContain('images/name with spaces & ünïcode.jpg')
    expect(files).toContain('images/exif-rotated.jpg')
    expect(files).not.toContain('images/README.txt')
    expect(rows.every((r) => r.label === 'raccoon')).toBe(true)
    expect(rows.every((r) => path.isAbsolute(r.path) && existsSync(r.path))).toBe(true)
    // README.txt (not an image), missing.jpg, ../outside.jpg, empty label: one problem each.
    expect(problems).toHaveLength(4)
    const byReason = (s: string) => problems.find((p) => p.reason.includes(s))
    expect(byReason('missing.jpg')?.line).toBe(15)
    expect(byReason('outside.jpg')?.reason).toMatch(/outside the image folder/)
    expect(byReason('empty label')?.line).toBe(17)
    expect(byReason('README.txt')?.reason).toMatch(/not an image/)
  })

  it('makes paths relative to an image root given apart from the CSV, and refuses rows outside it', async () => {
    const root = path.join(bad, 'images')
    const { rows, problems } = await readLabelsCsv(path.join(bad, 'labels.csv'), root)
    expect(rows.find((r) => r.file === 'cmyk.jpg')).toBeDefined()
    expect(problems.filter((p) => /outside/.test(p.reason))).toHaveLength(1)
  })

  it('keeps several labels per file and drops exact duplicates', async () => {
    mkdirSync(path.join(tmp, 'csv'), { recursive: true })
    writeFileSync(path.join(tmp, 'csv/a.jpg'), 'x')
    writeFileSync(path.join(tmp, 'csv/labels.csv'), 'file,label\na.jpg,cat\na.jpg,dog\na.jpg,cat\n')
    const { rows, problems } = await readLabelsCsv(path.join(tmp, 'csv/labels.csv'))
    expect(rows.map((r) => r.label)).toEqual(['cat', 'dog'])
    expect(problems).toEqual([])
  })

  it('throws NOT_FOUND for a missing CSV', async () => {
    await expect(readLabelsCsv(path.join(tmp, 'nope.csv'))).rejects.toMatchObject({
      code: 'NOT_FOUND',
    })
  })
})

describe('folder per class', () => {
  it('labels images by their top-level folder and reports images without one', async () => {
    const root = path.join(tmp, 'fpc')
    for (const f of [
      'cat/a.jpg',
      'cat/sub/b.PNG',
      'dog/c.webp',
      'loose.jpg',
      'dog/notes.txt',
      '.hidden/x.jpg',
    ]) {
      mkdirSync(path.dirname(path.join(root, f)), { recursive: true })
      writeFileSync(path.join(root, f), 'x')
    }
    const r = await readFolderPerClass(root)
    expect(r.rows.map((x) => [x.file, x.label])).toEqual([
      ['cat/a.jpg', 'cat'],
      ['cat/sub/b.PNG', 'cat'],
      ['dog/c.webp', 'dog'],
    ])
    expect(r.labels).toEqual(['cat', 'dog'])
    expect(r.problems.map((p) => p.file)).toEqual(['loose.jpg'])
    expect(r.skipped).toEqual(['dog/notes.txt'])
  })

  it('scans the bad-inputs image folder: 12 images, README.txt skipped and counted', async () => {
    const s = await scanImageFolder(path.join(bad, 'images'))
    expect(s.images).toHaveLength(12)
    expect(s.skipped).toEqual(['README.txt'])
  })
})
